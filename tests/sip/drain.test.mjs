// SIGTERM drain (issue 5 "Faults"): on SIGTERM the server takes no new calls (tab: hangup 503
// server_shutting_down; SIP: 503 with Retry-After) and no new logins, lets calls in progress
// finish for up to [shutdown] drain_seconds, then BYEs the rest, un-REGISTERs and exits 0.
// Far ends: sipp UAS scenarios; registrar: Kamailio (sees the un-REGISTER).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, tabphoneBin, repoRoot } from '../lib/server.mjs';
import { startKamailio, startSipp } from '../lib/sip-peers.mjs';
import { SignalClient } from '../lib/client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const KAM_PASSWORD = 'office-Secret-3';

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

let aliceHash;
function config(kam, drainSeconds) {
  aliceHash ??= spawnSync(tabphoneBin, ['--hash-password'], { input: 'alice-pw\n', encoding: 'utf8' }).stdout.trim();
  return {
    shutdown: { drain_seconds: drainSeconds },
    'account office': { uri: 'sip:office@127.0.0.1', password: KAM_PASSWORD, registrar: `sip:127.0.0.1:${kam.port}` },
    'user alice': { password_hash: aliceHash, accounts: '*' },
  };
}

async function login(srv) {
  const c = await SignalClient.connect(srv.wsUrl);
  const r = await c.request({ type: 'login', user: 'alice', password: 'alice-pw' });
  return { c, r };
}

async function answeredCall(c, sipp, callId) {
  c.send({ type: 'call', call_id: callId, to: `sip:bob@127.0.0.1:${sipp.port}`, from_account: 'direct', sdp: OFFER });
  const m = await c.next((x) => x.call_id === callId && (x.type === 'answered' || x.type === 'hangup'), 8000);
  assert.equal(m.type, 'answered', JSON.stringify(m));
}

/** An INVITE to user@tabphone from sipp; resolves with { status, retryAfter, messages }. */
async function inviteFromSipp(srv, user) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-drain-'));
  const trace = path.join(dir, 'messages.log');
  const proc = spawn('sipp', ['-sf', path.join(repoRoot, 'tests/sip/scenarios/uac-expect-503.xml'),
    '-s', user, `127.0.0.1:${srv.sipPort}`, '-i', '127.0.0.1', '-p', '0', '-m', '1', '-t', 'u1',
    '-nostdin', '-timeout', '10s', '-trace_msg', '-message_file', trace], { cwd: dir, stdio: 'ignore' });
  await new Promise((r) => proc.on('exit', r));
  const messages = fs.readFileSync(trace, 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  const finals = [...messages.matchAll(/^SIP\/2\.0 ([2-6]\d\d)/gm)].map((m) => Number(m[1]));
  const retry = messages.match(/^Retry-After:\s*(\d+)/mi);
  return { status: finals.at(-1), retryAfter: retry ? Number(retry[1]) : null, messages };
}

const isUnregister = (r) => r.expires === '0' || /expires=0\b/.test(r.contact);

test('SIGTERM drain: new calls, logins and INVITEs refused; the far end hangs up; exit 0 early', async () => {
  const kam = await startKamailio({ users: { office: KAM_PASSWORD } });
  const sipp = await startSipp('uas-answer-bye-later.xml', { args: ['-m', '1', '-t', 'u1', '-d', '3000'] });
  const srv = await startServer({ config: config(kam, 20) });
  try {
    await srv.waitForLog(/reg office.*registered/, 5000);
    const { c } = await login(srv);
    await answeredCall(c, sipp, 'c1');
    const termAt = Date.now();
    const exited = new Promise((resolve) => srv.child.once('exit', (code) => resolve(code)));
    srv.child.kill('SIGTERM');
    await srv.waitForLog(/draining: no new calls or logins; waiting up to 20 s/);

    c.send({ type: 'call', call_id: 'c2', to: `sip:bob@127.0.0.1:${sipp.port}`, from_account: 'direct', sdp: OFFER });
    const refused = await c.next((m) => m.call_id === 'c2');
    assert.deepEqual([refused.type, refused.code, refused.reason], ['hangup', 503, 'server_shutting_down']);

    const late = await SignalClient.connect(srv.wsUrl);
    const denied = await late.request({ type: 'login', user: 'alice', password: 'alice-pw' });
    assert.equal(denied.code, 'server_shutting_down');
    await late.close();

    const invite = await inviteFromSipp(srv, 'office');
    assert.equal(invite.status, 503, invite.messages);
    assert.ok(invite.retryAfter > 0, `503 without Retry-After:\n${invite.messages}`);

    // The far end's BYE (3 s after its answer) ends the last call: the server stops at once.
    const hangup = await c.next('hangup', 8000).catch((e) => { console.log(srv.logs().slice(-5000)); console.log(sipp.messages()); throw e; });
    assert.equal(hangup.reason, 'BYE from far end');
    const code = await exited;
    const took = Date.now() - termAt;
    assert.equal(code, 0, srv.logs());
    assert.ok(took < 10000, `exit ${took} ms after SIGTERM (drain_seconds 20)`);
    await srv.waitForLog(/drain: every call has ended/);
    assert.ok(kam.registers().some((x) => x.user === 'office' && isUnregister(x)), 'no un-REGISTER');
  } finally {
    await srv.stop();
    await sipp.stop();
    await kam.stop();
  }
});

test('SIGTERM drain of 2 s: the call still up gets BYE after ~2 s, un-REGISTER, exit 0', async () => {
  const kam = await startKamailio({ users: { office: KAM_PASSWORD } });
  const sipp = await startSipp('uas-answer.xml');
  const srv = await startServer({ config: config(kam, 2) });
  try {
    await srv.waitForLog(/reg office.*registered/, 5000);
    const { c } = await login(srv);
    await answeredCall(c, sipp, 'c1');
    const termAt = Date.now();
    const exited = new Promise((resolve) => srv.child.once('exit', (code) => resolve({ code, at: Date.now() })));
    srv.child.kill('SIGTERM');
    await sleep(1000);
    assert.doesNotMatch(sipp.messages(), /^\s*BYE sip:/m, 'BYE before the drain was over');
    const hangup = await c.next('hangup', 5000);
    const byeAfter = Date.now() - termAt;
    assert.deepEqual([hangup.code, hangup.reason], [503, 'server shutting down']);
    assert.ok(byeAfter >= 1800 && byeAfter < 4500, `hangup ${byeAfter} ms after SIGTERM`);
    const { code, at } = await exited;
    assert.equal(code, 0, srv.logs());
    console.log(`# BYE ${byeAfter} ms after SIGTERM, exit after ${at - termAt} ms`);
    for (let i = 0; i < 20 && !/^\s*BYE sip:/m.test(sipp.messages()); i++) await sleep(100);
    assert.match(sipp.messages(), /^\s*BYE sip:/m);
    assert.ok(kam.registers().some((x) => x.user === 'office' && isUnregister(x)), 'no un-REGISTER');
    await srv.waitForLog(/drain: 2 s are over, ending the calls still up/);
  } finally {
    await srv.stop();
    await sipp.stop();
    await kam.stop();
  }
});

test('drain_seconds = 0: SIGTERM stops at once (calls get BYE)', async () => {
  const kam = await startKamailio({ users: { office: KAM_PASSWORD } });
  const sipp = await startSipp('uas-answer.xml');
  const srv = await startServer({ config: config(kam, 0) });
  try {
    const { c } = await login(srv);
    await answeredCall(c, sipp, 'c1');
    const t0 = Date.now();
    const r = await srv.stop('SIGTERM');
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 < 4000);
    assert.doesNotMatch(srv.logs(), /draining/);
    assert.match(sipp.messages(), /^\s*BYE sip:/m);
  } finally {
    await srv.stop();
    await sipp.stop();
    await kam.stop();
  }
});
