// Session resume (issue 5 "Faults"): a tab whose WebSocket drops keeps its calls for
// [server] reconnect_grace_seconds and takes them back with welcome.resume_token; without a
// resume the calls get BYE after the grace period. The far end is a sipp UAS that answers and
// waits for our BYE; the "tab" is a ws client sending a WebRTC-shaped offer (no real media: the
// signaling and SIP sides are what is under test here; tests/e2e/reconnect.test.mjs has media).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, tabphoneBin, fetchRaw } from '../lib/server.mjs';
import { startSipp } from '../lib/sip-peers.mjs';
import { SignalClient } from '../lib/client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const hashes = {};
function hashPassword(pw) {
  if (!hashes[pw]) {
    const r = spawnSync(tabphoneBin, ['--hash-password'], { input: `${pw}\n`, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    hashes[pw] = r.stdout.trim();
  }
  return hashes[pw];
}

function usersConfig(grace = 5) {
  return {
    server: { reconnect_grace_seconds: grace },
    'user alice': { password_hash: hashPassword('alice-pw'), accounts: '*' },
    'user bob': { password_hash: hashPassword('bob-pw'), accounts: '*' },
  };
}

async function login(srv, user, fields) {
  const c = await SignalClient.connect(srv.wsUrl);
  const r = await c.request({ type: 'login', user, ...fields });
  return { c, r };
}

/** Places a call from c to the sipp UAS and waits for answered. */
async function answeredCall(c, sipp, callId = 'c1') {
  c.send({ type: 'call', call_id: callId, to: `sip:bob@127.0.0.1:${sipp.port}`, from_account: 'direct', sdp: OFFER });
  const answered = await c.next((m) => m.call_id === callId && (m.type === 'answered' || m.type === 'hangup'), 8000);
  assert.equal(answered.type, 'answered', JSON.stringify(answered));
  return answered;
}

/** Drops the socket the way a dead network does: no close frame. */
function drop(c) {
  c.ws.terminate();
  return c.closed;
}

const health = async (srv) => JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body);
const byes = (sipp) => (sipp.messages().match(/^\s*BYE sip:/gm) || []).length;

test('a dropped tab resumes within the grace period: call still up, hangup sends BYE', async () => {
  const srv = await startServer({ config: usersConfig(5) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c, r } = await login(srv, 'alice', { password: 'alice-pw' });
    assert.equal(r.type, 'welcome');
    assert.match(r.resume_token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.reconnect_grace_seconds, 5);
    await answeredCall(c, sipp);
    await drop(c);
    await srv.waitForLog(/connection lost: 1 call\(s\) and 0 own registration\(s\) kept for 5 s/);
    let h = await health(srv);
    assert.equal(h.calls, 1);
    assert.equal(h.detached_sessions, 1);
    assert.equal(h.sessions, 0);

    const { c: c2, r: w } = await login(srv, 'alice', { resume: r.resume_token });
    assert.equal(w.type, 'welcome', JSON.stringify(w));
    assert.equal(w.resumed, true);
    assert.deepEqual(w.calls, ['c1']);
    assert.match(w.resume_token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(w.resume_token, r.resume_token, 'a token works once: the resume gets a new one');
    const state = await c2.next((m) => m.type === 'call_state' && m.state === 'resumed');
    assert.equal(state.call_id, 'c1');
    assert.equal(state.answered, true);
    assert.equal(state.call, 'active');
    assert.equal(state.codec, 'PCMU/8000');
    h = await health(srv);
    assert.deepEqual([h.calls, h.sessions, h.detached_sessions], [1, 1, 0]);
    assert.equal(byes(sipp), 0, 'no BYE while the tab was away');
    await srv.waitForLog(/user alice resumed session \w+ \(detached\): 1 call\(s\)/);

    c2.send({ type: 'hangup', call_id: 'c1' });
    const hangup = await c2.next('hangup');
    assert.equal(hangup.reason, 'hung up by you');
    for (let i = 0; i < 40 && byes(sipp) === 0; i++) await sleep(50);
    assert.equal(byes(sipp), 1, sipp.messages());
    assert.equal((await health(srv)).calls, 0);
    assert.ok(!srv.logs().includes(r.resume_token) && !srv.logs().includes(w.resume_token),
      'a resume token reached the log');
    const metrics = await fetchRaw(`${srv.httpUrl}/metrics`);
    if (metrics.status === 200) assert.match(metrics.body, /^tabphone_sessions_resumed_total 1$/m);
    await c2.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('without a resume the far end gets BYE after the grace period and nothing is left', async () => {
  const srv = await startServer({ config: usersConfig(2) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    const dropped = Date.now();
    await drop(c);
    await sleep(1000);
    assert.equal(byes(sipp), 0, 'BYE before the grace period was over');
    for (let i = 0; i < 60 && byes(sipp) === 0; i++) await sleep(100);
    const after = Date.now() - dropped;
    assert.equal(byes(sipp), 1, sipp.messages());
    assert.ok(after >= 1900 && after < 4500, `BYE ${after} ms after the drop`);
    await srv.waitForLog(/not resumed within 2 s: ending its 1 call\(s\)/);
    const h = await health(srv);
    assert.deepEqual([h.calls, h.sessions, h.detached_sessions], [0, 0, 0]);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('a wrong, used or expired token is login_failed and a fresh login still works', async () => {
  const srv = await startServer({ config: usersConfig(1) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c, r } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    await drop(c);
    await srv.waitForLog(/connection lost/);

    const wrong = await login(srv, 'alice', { resume: 'A'.repeat(43) });
    assert.equal(wrong.r.code, 'login_failed');
    assert.equal(wrong.r.message, 'wrong user name or password');
    await srv.waitForLog(/resume refused for user 'alice': token unknown, used or expired/);
    // The socket is not logged in: calls are refused, a password login works.
    const again = await wrong.c.request({ type: 'login', user: 'alice', password: 'alice-pw' });
    assert.equal(again.type, 'welcome');
    assert.equal(again.resumed, undefined);
    await wrong.c.close();

    await srv.waitForLog(/not resumed within 1 s/, 4000);
    const late = await login(srv, 'alice', { resume: r.resume_token });
    assert.equal(late.r.code, 'login_failed', 'expired token');
    await late.c.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test("another user's token is refused and leaves the session resumable by its owner", async () => {
  const srv = await startServer({ config: usersConfig(5) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c, r } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    await drop(c);
    await srv.waitForLog(/connection lost/);
    const thief = await login(srv, 'bob', { resume: r.resume_token });
    assert.equal(thief.r.code, 'login_failed');
    await srv.waitForLog(/resume refused for user 'bob': token of another user/);
    await thief.c.close();
    const owner = await login(srv, 'alice', { resume: r.resume_token });
    assert.equal(owner.r.resumed, true);
    assert.deepEqual(owner.r.calls, ['c1']);
    owner.c.send({ type: 'hangup', call_id: 'c1' });
    await owner.c.next('hangup');
    await owner.c.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('a tab that closes on purpose (close frame 1000/1001) ends its calls at once', async () => {
  const srv = await startServer({ config: usersConfig(30) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    c.ws.close(1001, 'page closed');
    await c.closed;
    for (let i = 0; i < 40 && byes(sipp) === 0; i++) await sleep(50);
    assert.equal(byes(sipp), 1, 'BYE at once');
    assert.equal((await health(srv)).detached_sessions, 0);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('a resume while the old socket still looks open takes the session over', async () => {
  const srv = await startServer({ config: usersConfig(5) });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const { c, r } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    // The tab's network changed: it reconnects before the server noticed the old link die.
    const fresh = await login(srv, 'alice', { resume: r.resume_token });
    assert.equal(fresh.r.resumed, true);
    assert.deepEqual(fresh.r.calls, ['c1']);
    const closed = await c.closed;
    assert.equal(closed.code, 4001);
    await fresh.c.next((m) => m.type === 'call_state' && m.state === 'resumed');
    assert.equal(byes(sipp), 0);
    fresh.c.send({ type: 'hangup', call_id: 'c1' });
    await fresh.c.next('hangup');
    for (let i = 0; i < 40 && byes(sipp) === 0; i++) await sleep(50);
    assert.equal(byes(sipp), 1);
    await fresh.c.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('open mode: a new socket resumes with login {user: "local", resume}', async () => {
  const srv = await startServer({ config: { server: { reconnect_grace_seconds: 5 } } });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.next('welcome');
    assert.equal(w.open_mode, true);
    await answeredCall(c, sipp);
    await drop(c);
    await srv.waitForLog(/connection lost/);
    const c2 = await SignalClient.connect(srv.wsUrl);
    const fresh = await c2.next('welcome');
    assert.equal(fresh.resumed, undefined);
    const r = await c2.request({ type: 'login', user: w.user, resume: w.resume_token });
    assert.equal(r.resumed, true, JSON.stringify(r));
    assert.deepEqual(r.calls, ['c1']);
    c2.send({ type: 'hangup', call_id: 'c1' });
    await c2.next('hangup');
    await c2.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('what happens while the tab is away reaches it after the resume (far end hung up)', async () => {
  const srv = await startServer({ config: usersConfig(5) });
  const sipp = await startSipp('uas-answer-bye-later.xml', { args: ['-m', '1', '-t', 'u1', '-d', '1000'] });
  try {
    const { c, r } = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(c, sipp);
    await drop(c);
    await srv.waitForLog(/\[call c1\] ended: 200 BYE from far end/, 5000);
    const back = await login(srv, 'alice', { resume: r.resume_token });
    assert.equal(back.r.resumed, true);
    assert.deepEqual(back.r.calls, [], 'no call is live any more');
    const hangup = await back.c.next('hangup');
    assert.deepEqual([hangup.call_id, hangup.code, hangup.reason], ['c1', 200, 'BYE from far end']);
    await back.c.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('while a tab is away, an incoming call rings the other tabs only', async () => {
  const config = usersConfig(5);
  config['account office'] = { uri: 'sip:office@127.0.0.1', register: 'no' };
  const srv = await startServer({ config });
  const sipp = await startSipp('uas-answer.xml');
  try {
    const away = await login(srv, 'alice', { password: 'alice-pw' });
    const other = await login(srv, 'alice', { password: 'alice-pw' });
    await answeredCall(away.c, sipp);
    await drop(away.c);
    await srv.waitForLog(/connection lost/);
    const caller = await startSipp('uac-invite.xml', {
      args: ['-s', 'office', `127.0.0.1:${srv.sipPort}`, '-m', '1', '-t', 'u1'], mayExit: true,
    });
    try {
      const incoming = await other.c.next('incoming', 8000);
      assert.equal(incoming.account, 'office');
      await srv.waitForLog(/incoming for account office, ringing 1 tab\(s\)/);
      other.c.send({ type: 'reject', call_id: incoming.call_id, code: 486 });
      await srv.waitForLog(new RegExp(`\\[call ${incoming.call_id}\\] ended: 486 rejected`));
    } finally {
      await caller.stop();
    }
    const back = await login(srv, 'alice', { resume: away.r.resume_token });
    assert.deepEqual(back.r.calls, ['c1']);
    await back.c.next((m) => m.type === 'call_state' && m.state === 'resumed');
    assert.ok(!back.c.received.some((m) => m.type === 'incoming'), 'the detached tab was rung');
    back.c.send({ type: 'hangup', call_id: 'c1' });
    await back.c.next('hangup');
    await back.c.close();
    await other.c.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('failed resumes (e.g. every tab after a server restart) do not lock the user out', async () => {
  const config = usersConfig(5);
  config.server.login_max_failures = 2;
  const srv = await startServer({ config });
  try {
    for (let i = 0; i < 4; i++) {
      const tab = await login(srv, 'alice', { resume: `stale-token-${i}` });
      assert.equal(tab.r.code, 'login_failed');
      await tab.c.close();
    }
    const fresh = await login(srv, 'alice', { password: 'alice-pw' });
    assert.equal(fresh.r.type, 'welcome', JSON.stringify(fresh.r));
    assert.doesNotMatch(srv.logs(), /login locked/);
    await fresh.c.close();
  } finally {
    await srv.stop();
  }
});
