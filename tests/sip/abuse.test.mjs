// Inbound SIP screening (issue 5): SIP scanners get 403 before any account is looked at, trunks
// with trusted_sources take INVITEs only from those networks, unknown users get 404.
// sipp is the caller; 127.0.0.2 (all of 127/8 is loopback on Linux) is the untrusted source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, repoRoot } from '../lib/server.mjs';

const scenario = path.join(repoRoot, 'tests/sip/scenarios/uac-probe.xml');

/** One INVITE from sipp bound to source, to user@tabphone; resolves with the final status. */
async function probe(srv, { user, ua = 'sipp-probe', source = '127.0.0.1' }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-probe-'));
  const trace = path.join(dir, 'messages.log');
  const proc = spawn('sipp', ['-sf', scenario, '-s', user, `127.0.0.1:${srv.sipPort}`, '-i', source,
    '-p', '0', '-m', '1', '-t', 'u1', '-key', 'ua', ua, '-nostdin', '-timeout', '10s',
    '-trace_msg', '-message_file', trace], { cwd: dir, stdio: 'ignore' });
  const code = await new Promise((r) => proc.on('exit', r));
  const messages = fs.readFileSync(trace, 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  const finals = [...messages.matchAll(/^SIP\/2\.0 ([2-6]\d\d)/gm)].map((m) => Number(m[1]));
  return { code, status: finals.at(-1), messages };
}

const trunkConfig = {
  'account trunk': { uri: 'sip:trunk@127.0.0.1', register: 'no', trusted_sources: '127.0.0.1, 10.0.0.0/8' },
  'account open': { uri: 'sip:open@127.0.0.1', register: 'no' },
};

test('trusted_sources: an INVITE from outside the list gets 403 and is logged', async () => {
  const srv = await startServer({ config: trunkConfig });
  try {
    const outside = await probe(srv, { user: 'trunk', source: '127.0.0.2' });
    assert.equal(outside.status, 403, outside.messages);
    await srv.waitForLog(/\[trunk\] peer=127\.0\.0\.2:\d+ INVITE refused \(403\): source not in trusted_sources/);
    assert.doesNotMatch(srv.logs(), /incoming INVITE for account trunk/);
  } finally { await srv.stop(); }
});

test('trusted_sources: an INVITE from a listed source reaches the account (480: no tab)', async () => {
  const srv = await startServer({ config: trunkConfig });
  try {
    const inside = await probe(srv, { user: 'trunk', source: '127.0.0.1' });
    assert.equal(inside.status, 480, inside.messages);
    await srv.waitForLog(/incoming INVITE for account trunk/);
    // An account without the list takes calls from anywhere.
    const any = await probe(srv, { user: 'open', source: '127.0.0.2' });
    assert.equal(any.status, 480, any.messages);
  } finally { await srv.stop(); }
});

test('scanner User-Agents get 403 without any account lookup', async () => {
  const srv = await startServer({ config: { ...trunkConfig, sip: { direct_account: 'no' } } });
  try {
    for (const ua of ['friendly-scanner', 'sipvicious 0.3', 'sipcli/v1.8', 'VaxSIPUserAgent/3.1']) {
      // Even for the open account: a scanner never reaches call handling.
      const r = await probe(srv, { user: 'open', ua });
      assert.equal(r.status, 403, `${ua}: ${r.messages}`);
    }
    await srv.waitForLog(/403 to scanner \(User-Agent friendly-scanner\)/);
    assert.doesNotMatch(srv.logs(), /incoming INVITE for account/);
  } finally { await srv.stop(); }
});

test('unknown users get 404, known ones with a normal User-Agent are not refused', async () => {
  const srv = await startServer({ config: { ...trunkConfig, sip: { direct_account: 'no' } } });
  try {
    const unknown = await probe(srv, { user: 'nobody' });
    assert.equal(unknown.status, 404, unknown.messages);
    const known = await probe(srv, { user: 'open', ua: 'Asterisk PBX 20' });
    assert.equal(known.status, 480, known.messages);
  } finally { await srv.stop(); }
});
