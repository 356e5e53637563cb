// Abuse limits and toll-fraud protections of a real server (issue 5): login lockout per user
// and per address, sessions per address, message rate, token login, dial plan and call limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { startServer, tabphoneBin, testCerts, freePort } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';

const SECRET = 'test-secret-0123456789abcdef';

function hashPassword(pw) {
  const r = spawnSync(tabphoneBin, ['--hash-password'], { input: `${pw}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

let bobHash;
function usersConfig(server = {}, bob = {}) {
  bobHash ??= hashPassword('bob-pw');
  return {
    server: { token_secret: SECRET, ...server },
    'account office': { uri: 'sip:1001@127.0.0.1', register: 'no' },
    'account sales': { uri: 'sip:2001@127.0.0.1', register: 'no' },
    'user bob': { password_hash: bobHash, accounts: '*', ...bob },
  };
}

/** A token made the way another web app would: HMAC-SHA256 over base64url(JSON). */
function nodeToken(payload, secret = SECRET) {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const mac = crypto.createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${mac}`;
}

// A WebRTC-style offer good enough for the echo test destination and for the SIP translation.
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

async function login(srv, user, password) {
  const c = await SignalClient.connect(srv.wsUrl);
  const r = await c.request({ type: 'login', user, password });
  return { c, r };
}

test('login: a user is locked after login_max_failures, even with the right password', async () => {
  const srv = await startServer({ config: usersConfig({ login_max_failures: 3, login_lockout: 2 }) });
  try {
    const a = await SignalClient.connect(srv.wsUrl);
    for (let i = 0; i < 2; i++) {
      const r = await a.request({ type: 'login', user: 'bob', password: 'wrong' });
      assert.equal(r.code, 'login_failed');
    }
    const b = await SignalClient.connect(srv.wsUrl);
    const third = await b.request({ type: 'login', user: 'bob', password: 'wrong' });
    assert.equal(third.code, 'login_failed');
    const locked = await b.request({ type: 'login', user: 'bob', password: 'bob-pw' });
    // Same code and text as a wrong password: the tab cannot tell a lock from a typo.
    assert.equal(locked.code, 'login_failed');
    assert.equal(locked.message, third.message);
    await srv.waitForLog(/login locked for user 'bob' for 2 s after 3 failures/);
    assert.match(srv.logs(), /peer=127\.0\.0\.1:\d+ login locked for user 'bob'/);
    assert.equal(srv.logs().match(/login locked for user 'bob'/g).length, 1, 'logged once');
    await new Promise((r) => setTimeout(r, 2200));
    const { c, r } = await login(srv, 'bob', 'bob-pw');
    assert.equal(r.type, 'welcome');
    await c.close();
  } finally { await srv.stop(); }
});

test('login: an address is locked after login_max_failures_per_ip, whatever the user', async () => {
  const srv = await startServer({
    config: usersConfig({ login_max_failures: 100, login_max_failures_per_ip: 4, login_lockout: 30 }),
  });
  try {
    for (const user of ['alice', 'carol', 'dave', 'erin']) {
      const { c, r } = await login(srv, user, 'guess');
      assert.equal(r.code, 'login_failed');
      c.ws.terminate();
    }
    await srv.waitForLog(/login locked for address 127\.0\.0\.1 for 30 s after 4 failures/);
    const { c, r } = await login(srv, 'bob', 'bob-pw');
    assert.equal(r.code, 'login_failed');
    await srv.waitForLog(/login failed for user 'bob': locked out/);
    await c.close();
  } finally { await srv.stop(); }
});

test('sessions: the connection over max_sessions_per_ip is closed at once (1008)', async () => {
  const srv = await startServer({ config: { server: { max_sessions_per_ip: 3 } } });
  try {
    const open = [];
    for (let i = 0; i < 3; i++) {
      const c = await SignalClient.connect(srv.wsUrl);
      await c.next('welcome');
      open.push(c);
    }
    const extra = await SignalClient.connect(srv.wsUrl);
    const closed = await extra.closed;
    assert.equal(closed.code, 1008);
    assert.equal(extra.received.filter((m) => m.type === 'welcome').length, 0);
    await srv.waitForLog(/refused: more than 3 sessions from 127\.0\.0\.1/);
    await open[0].close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await SignalClient.connect(srv.wsUrl); // a slot is free again
    await again.next('welcome');
    for (const c of [again, ...open.slice(1)]) await c.close();
  } finally { await srv.stop(); }
});

test('sessions: a message flood gets rate_limited, and a tab that keeps on is closed', async () => {
  const srv = await startServer({ config: { server: { message_rate: 10 } } });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    for (let i = 0; i < 12; i++) c.send({ type: 'ping', id: i });
    const e = await c.next((m) => m.type === 'error');
    assert.equal(e.code, 'rate_limited');
    assert.ok(c.received.filter((m) => m.type === 'pong').length >= 9);
    for (let i = 0; i < 30; i++) c.send({ type: 'ping' });
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    await srv.waitForLog(/rate limited/);
  } finally { await srv.stop(); }
});

test('token login: a token from --make-token logs in; accounts narrow to its list', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const { cert, key } = testCerts();
    const r = spawnSync(tabphoneBin, ['--config', srv.configFile, '--make-token', 'bob',
      '--expires', '60', '--accounts', 'office'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(cert && key);
    const token = r.stdout.trim();
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.request({ type: 'login', user: 'bob', token });
    assert.equal(w.type, 'welcome');
    assert.equal(w.user, 'bob');
    assert.deepEqual(w.accounts.map((a) => a.name), ['office']);
    const reg = await c.request({ type: 'register', account: 'sales' });
    assert.equal(reg.code, 'unknown_account');
    await c.close();
    assert.doesNotMatch(srv.logs(), new RegExp(SECRET));
    assert.doesNotMatch(srv.logs(), new RegExp(token.split('.')[1]));
  } finally { await srv.stop(); }
});

test('token login: expired, wrong signature, other user or unknown user all get login_failed', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const now = Math.floor(Date.now() / 1000);
    const good = nodeToken({ user: 'bob', exp: now + 60 });
    const cases = [
      ['expired', 'bob', nodeToken({ user: 'bob', exp: now - 1 })],
      ['bad signature', 'bob', nodeToken({ user: 'bob', exp: now + 60 }, 'another-secret-0123456789')],
      ['altered', 'bob', `${Buffer.from(JSON.stringify({ user: 'bob', exp: now + 9999 })).toString('base64url')}.${good.split('.')[1]}`],
      ['for another user', 'mallory', good],
      ['for an unknown user', 'mallory', nodeToken({ user: 'mallory', exp: now + 60 })],
    ];
    for (const [why, user, token] of cases) {
      const c = await SignalClient.connect(srv.wsUrl);
      const r = await c.request({ type: 'login', user, token });
      assert.equal(r.code, 'login_failed', why);
      assert.equal(r.message, 'wrong user name or password', why);
      c.ws.terminate();
    }
    await srv.waitForLog(/token expired/);
    await srv.waitForLog(/token bad signature/);
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.request({ type: 'login', user: 'bob', token: good });
    assert.equal(w.type, 'welcome', 'a token made outside tabphone works too');
    assert.equal(w.accounts.length, 3); // office, sales, direct: not narrowed
    await c.close();
  } finally { await srv.stop(); }
});

/** A UDP far end on a free port: records every request and answers INVITEs with 486. */
async function sipListener() {
  const port = await freePort();
  const sock = dgram.createSocket('udp4');
  const got = [];
  sock.on('message', (m, rinfo) => {
    const text = m.toString();
    got.push(text);
    if (!text.startsWith('INVITE ')) return;
    // Answer 486 so no transaction is left pending when the server stops.
    const keep = text.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
    const reply = ['SIP/2.0 486 Busy Here', ...keep.map((l) => (/^To:/i.test(l) && !/tag=/.test(l) ? `${l};tag=far` : l)),
      'Content-Length: 0', '', ''].join('\r\n');
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise((r) => sock.bind(port, '127.0.0.1', r));
  return { port, got, close: () => sock.close() };
}

test('dial plan: a denied destination gets hangup 403 not_allowed_by_dial_plan, no INVITE', async () => {
  const far = await sipListener();
  const srv = await startServer({
    config: usersConfig({}, { dial_deny: '900*, 00*', dial_allow: '+1*, 2*, sip:*@example.com' }),
  });
  try {
    const { c, r } = await login(srv, 'bob', 'bob-pw');
    assert.equal(r.type, 'welcome');
    for (const [id, to] of [['d1', `sip:900123@127.0.0.1:${far.port}`], ['d2', `sip:%30%30441234@127.0.0.1:${far.port}`],
      ['d3', `sip:4711@127.0.0.1:${far.port}`]]) {
      c.send({ type: 'call', call_id: id, to, from_account: 'direct', sdp: OFFER });
      const h = await c.next((m) => m.type === 'hangup' && m.call_id === id);
      assert.equal(h.code, 403, to);
      assert.equal(h.reason, 'not_allowed_by_dial_plan');
    }
    await srv.waitForLog(/user bob may not call sip:900123@127\.0\.0\.1:\d+ \(dial_deny 900\*\)/);
    await srv.waitForLog(/may not call sip:%30%30441234@.*dial_deny 00\*/);
    await srv.waitForLog(/may not call sip:4711@.*not in dial_allow/);
    // An allowed destination does go out as an INVITE.
    c.send({ type: 'call', call_id: 'ok', to: `sip:2001@127.0.0.1:${far.port}`, from_account: 'direct', sdp: OFFER });
    for (let i = 0; i < 50 && !far.got.length; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(far.got.length > 0, true, 'the allowed call sent an INVITE');
    assert.ok(far.got.every((m) => m.includes('sip:2001@')), 'only the allowed call reached SIP');
    const busy = await c.next((m) => m.type === 'hangup' && m.call_id === 'ok');
    assert.equal(busy.code, 486);
    await c.close();
  } finally { await srv.stop(); far.close(); }
});

test('call limits: user max_calls and server max_calls give hangup 503 too_many_calls', async () => {
  const srv = await startServer({ config: usersConfig({ max_calls: 3 }, { max_calls: 1 }) });
  try {
    const { c } = await login(srv, 'bob', 'bob-pw');
    c.send({ type: 'call', call_id: 'e1', to: 'echo', sdp: OFFER });
    const first = await c.next((m) => m.call_id === 'e1' && (m.type === 'answered' || m.type === 'hangup'));
    assert.equal(first.type, 'answered', JSON.stringify(first));
    c.send({ type: 'call', call_id: 'e2', to: 'echo', sdp: OFFER });
    const h = await c.next((m) => m.type === 'hangup' && m.call_id === 'e2');
    assert.equal(h.code, 503);
    assert.equal(h.reason, 'too_many_calls');
    await srv.waitForLog(/call e2.*refused for user bob: user max_calls reached/);
    c.send({ type: 'hangup', call_id: 'e1' });
    await c.next((m) => m.type === 'hangup' && m.call_id === 'e1');
    await new Promise((r) => setTimeout(r, 100));
    c.send({ type: 'call', call_id: 'e3', to: 'echo', sdp: OFFER });
    const again = await c.next((m) => m.call_id === 'e3');
    assert.equal(again.type, 'answered', 'the limit counts live calls only');
    await c.close();
  } finally { await srv.stop(); }
});

test('call limits: open mode uses the server-wide limits (max_calls_per_session, max_calls)', async () => {
  const srv = await startServer({ config: { server: { max_calls_per_session: 2, max_calls: 3 } } });
  try {
    const a = await SignalClient.connect(srv.wsUrl);
    await a.next('welcome');
    const b = await SignalClient.connect(srv.wsUrl);
    await b.next('welcome');
    const call = async (c, id) => {
      c.send({ type: 'call', call_id: id, to: 'echo', sdp: OFFER });
      return c.next((m) => m.call_id === id && (m.type === 'answered' || m.type === 'hangup'));
    };
    assert.equal((await call(a, 'a1')).type, 'answered');
    assert.equal((await call(a, 'a2')).type, 'answered');
    const a3 = await call(a, 'a3');
    assert.deepEqual([a3.type, a3.code, a3.reason], ['hangup', 503, 'too_many_calls']);
    assert.equal((await call(b, 'b1')).type, 'answered');
    const b2 = await call(b, 'b2');
    assert.deepEqual([b2.type, b2.code, b2.reason], ['hangup', 503, 'too_many_calls']);
    await srv.waitForLog(/call a3.*max_calls_per_session reached/);
    await srv.waitForLog(/call b2.*server max_calls reached/);
    await a.close();
    await b.close();
  } finally { await srv.stop(); }
});
