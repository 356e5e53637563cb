// caller-id.test.mjs: caller ID both ways (issue 6).
//   - Outbound: an account's display_name, asserted_identity and preferred_identity reach the
//     far end as From display name, P-Asserted-Identity and P-Preferred-Identity (a sipp UAS
//     that fails the call when a header is missing; call_probe places the call).
//   - Inbound: a forwarded INVITE (Diversion, History-Info, P-Asserted-Identity from sipp)
//     rings a tab whose `incoming` carries diverted_from, diversion_reason, history and, only
//     for an account with trusted_sources, asserted_identity / asserted_display.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SignalClient } from '../lib/client.mjs';
import { startServer } from '../lib/server.mjs';
import { freePort, repoRoot, startSipp } from '../lib/sip-peers.mjs';

function callProbe() {
  if (process.env.CALL_PROBE) return process.env.CALL_PROBE;
  for (const dir of ['build-sip', 'build']) {
    const p = path.join(repoRoot, dir, 'tests', 'sip', 'call_probe');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('call_probe not built');
}

function run(bin, args, timeoutMs = 20000) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    // The probes may be ASan builds: a sanitizer report fails the test.
    assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, stderr.slice(-4000));
    resolve({ lines: stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr, code });
  }));
}

test('outbound INVITE carries From display name, P-Asserted-Identity and P-Preferred-Identity', async () => {
  const uas = await startSipp('callerid-uas.xml');
  try {
    const sipPort = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-callerid-'));
    fs.writeFileSync(path.join(dir, 'c.crt'), '');
    fs.writeFileSync(path.join(dir, 'c.key'), '');
    const config = path.join(dir, 'tabphone.conf');
    fs.writeFileSync(config, `[server]\nlisten = 127.0.0.1:${sipPort + 1}\ncert = ${dir}/c.crt\n` +
      `key = ${dir}/c.key\n[sip]\nlisten = 127.0.0.1:${sipPort}\nshutdown_timeout = 3\n` +
      `[log]\nlevel = debug\n[account alice]\nuri = sip:alice@127.0.0.1\nregister = no\n` +
      `display_name = Alice Example\nasserted_identity = sip:+4930123@example.com\n` +
      `preferred_identity = <sip:alice@example.com>\n`);
    const r = await run(callProbe(), ['--config', config, '--account', 'alice', '--to',
      `sip:bob@127.0.0.1:${uas.port}`, '--hangup-after', '200']);
    const types = r.lines.filter((e) => e.event === 'call').map((e) => e.type);
    assert.ok(types.includes('answered'), JSON.stringify(r.lines) + uas.output() + uas.messages());
    const { code } = await uas.exited;
    assert.equal(code, 0, 'sipp found every caller ID header: ' + uas.output());
  } finally {
    await uas.stop();
  }
});

/** sipp calls user@tabphone with the forwarded INVITE; resolves with its trace when done. */
async function forwardedInvite(srv, user) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-callerid-'));
  const trace = path.join(dir, 'messages.log');
  const proc = spawn('sipp', ['-sf', path.join(repoRoot, 'tests/sip/scenarios/callerid-uac.xml'),
    '-s', user, `127.0.0.1:${srv.sipPort}`, '-i', '127.0.0.1', '-p', '0', '-m', '1', '-t', 'u1',
    '-nostdin', '-timeout', '15s', '-trace_msg', '-message_file', trace],
  { cwd: dir, stdio: 'ignore' });
  const code = await new Promise((r) => proc.on('exit', r));
  const messages = fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  return { code, messages };
}

const config = {
  // The provider's INVITEs come from 127.0.0.1 only: its P-Asserted-Identity is believed.
  'account office': { uri: 'sip:office@127.0.0.1', register: 'no', trusted_sources: '127.0.0.1' },
  // From anywhere: a P-Asserted-Identity could be anyone's invention and is dropped.
  'account open': { uri: 'sip:open@127.0.0.1', register: 'no' },
};

for (const [account, trusted] of [['office', true], ['open', false]]) {
  test(`incoming (${account}): diverted_from, history${trusted ? ', asserted_identity' : '; PAI dropped (untrusted source)'}`, async () => {
    const srv = await startServer({ config });
    try {
      const tab = await SignalClient.connect(srv.wsUrl);
      await tab.next('welcome');
      const sipp = forwardedInvite(srv, account);
      const incoming = await tab.next((m) => m.type === 'incoming', 10000);
      assert.equal(incoming.account, account);
      assert.equal(incoming.diverted_from, 'sip:+4930555@pbx.example.com');
      assert.equal(incoming.diversion_reason, 'user-busy');
      assert.deepEqual(incoming.history, ['sip:+4930111@pbx.example.com',
        'sip:+4930555@pbx.example.com', 'sip:office@127.0.0.1']);
      if (trusted) {
        assert.equal(incoming.asserted_identity, 'sip:+4989777@carrier.example.net');
        assert.equal(incoming.asserted_display, 'Real Caller');
      } else {
        assert.equal(incoming.asserted_identity, undefined);
        assert.equal(incoming.asserted_display, undefined);
      }
      assert.equal(incoming.display, 'Sipp Caller'); // From stays as it was
      tab.send({ type: 'hangup', call_id: incoming.call_id });
      const done = await sipp;
      assert.match(done.messages, /SIP\/2\.0 [46]\d\d /, done.messages);
      await tab.close();
    } finally {
      await srv.stop();
    }
  });
}
