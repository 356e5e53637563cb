// The signaling session over a real WebSocket: open mode, login, validation errors, abuse
// limits, timeouts. (SIP registration through a session is in tests/sip.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, tabphoneBin, fetchRaw } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';

function hashPassword(pw) {
  const r = spawnSync(tabphoneBin, ['--hash-password'], { input: `${pw}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

let hashes;
function usersConfig(extra = {}) {
  hashes ??= { bob: hashPassword('bob-pw'), carol: hashPassword('carol-pw') };
  return {
    'account office': { uri: 'sip:1001@127.0.0.1', register: 'no' },
    'account sales': { uri: 'sip:2001@127.0.0.1', register: 'no' },
    'user bob': { password_hash: hashes.bob, accounts: 'office' },
    'user carol': { password_hash: hashes.carol, accounts: '*', byo_accounts: 'no' },
    ...extra,
  };
}

test('open mode: welcome arrives unprompted with the direct account', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.next('welcome');
    assert.equal(w.open_mode, true);
    assert.equal(w.byo_accounts, true);
    assert.match(w.session, /^[0-9a-f]{16}$/);
    assert.deepEqual(w.accounts.map((a) => a.name), ['direct']);
    assert.equal(w.accounts[0].direct, true);
    assert.deepEqual(w.ice_servers, []);
    await c.close();
  } finally { await srv.stop(); }
});

test('login is required before anything else when users exist', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const e = await c.request({ type: 'register', account: 'office' });
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'not_logged_in');
    const p = await c.request({ type: 'ping' });
    assert.equal(p.type, 'pong');
    await c.close();
  } finally { await srv.stop(); }
});

test('a wrong password and an unknown user get the same generic error', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const a = await c.request({ type: 'login', user: 'bob', password: 'nope' });
    const b = await c.request({ type: 'login', user: 'mallory', password: 'nope' });
    assert.equal(a.code, 'login_failed');
    assert.equal(b.code, 'login_failed');
    assert.equal(a.message, b.message);
    assert.ok(!srv.logs().includes('nope'), 'a tried password must never be logged');
    await c.close();
  } finally { await srv.stop(); }
});

test('the right password logs in and lists only the user\'s accounts', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.request({ type: 'login', user: 'bob', password: 'bob-pw' });
    assert.equal(w.type, 'welcome');
    assert.equal(w.user, 'bob');
    assert.equal(w.open_mode, false);
    assert.deepEqual(w.accounts.map((a) => a.name), ['office']);
    const again = await c.request({ type: 'login', user: 'bob', password: 'bob-pw' });
    assert.equal(again.code, 'already_logged_in');
    const other = await c.request({ type: 'register', account: 'sales' });
    assert.equal(other.code, 'unknown_account');
    assert.ok(!srv.logs().includes('bob-pw'));
    await c.close();
  } finally { await srv.stop(); }
});

test('three failed logins close the socket', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    for (let i = 0; i < 3; i++) await c.request({ type: 'login', user: 'bob', password: `x${i}` });
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
  } finally { await srv.stop(); }
});

test('invalid messages get machine-readable errors and the session stays open', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    c.send('{not json');
    assert.equal((await c.next('error')).code, 'invalid_json');
    c.send('[1,2]');
    assert.equal((await c.next('error')).code, 'invalid_json');
    c.send({ id: 7 });
    const mt = await c.next('error');
    assert.equal(mt.code, 'missing_type');
    assert.equal(mt.id, 7);
    c.send({ type: 'teleport', id: 'a' });
    const ut = await c.next('error');
    assert.equal(ut.code, 'unknown_type');
    assert.equal(ut.id, 'a');
    c.send({ type: 'register', uri: 42, username: 'u', password: 'p' });
    const wf = await c.next('error');
    assert.equal(wf.code, 'invalid_field');
    assert.match(wf.message, /uri/);
    const pong = await c.request({ type: 'ping' });
    assert.equal(pong.type, 'pong');
    await c.close();
  } finally { await srv.stop(); }
});

test('repeated abuse closes the connection', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    for (let i = 0; i < 12; i++) c.send('garbage');
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.match(srv.logs(), /too many invalid messages/);
  } finally { await srv.stop(); }
});

test('in-call messages for an unknown call_id get unknown_call (hold included)', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    const h = await c.request({ type: 'hangup', call_id: 'nope' });
    assert.equal(h.code, 'unknown_call');
    assert.equal(h.call_id, 'nope');
    const hold = await c.request({ type: 'hold', call_id: 'nope' });
    assert.equal(hold.code, 'unknown_call');
    await c.close();
  } finally { await srv.stop(); }
});

test('a call with an unusable offer ends with a clear hangup', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    c.send({ type: 'call', call_id: 'c1', to: 'sip:bob@127.0.0.1', sdp: 'v=0\r\n' });
    const h = await c.next('hangup');
    assert.equal(h.call_id, 'c1');
    assert.equal(h.code, 400);
    assert.match(h.reason, /offer is unusable/);
    await c.close();
  } finally { await srv.stop(); }
});

test('bring-your-own accounts respect the server and user switches and the domain list', async () => {
  const srv = await startServer({ config: { ...usersConfig(), sip: { byo_domains: 'allowed.example' } } });
  try {
    const bob = await SignalClient.connect(srv.wsUrl);
    await bob.request({ type: 'login', user: 'bob', password: 'bob-pw' });
    const d = await bob.request({ type: 'register', uri: 'sip:me@evil.example', username: 'me', password: 'pw' });
    assert.equal(d.code, 'domain_not_allowed');
    const carol = await SignalClient.connect(srv.wsUrl);
    await carol.request({ type: 'login', user: 'carol', password: 'carol-pw' });
    const r = await carol.request({ type: 'register', uri: 'sip:me@allowed.example', username: 'me', password: 'pw' });
    assert.equal(r.code, 'byo_disabled');
    await bob.close();
    await carol.close();
  } finally { await srv.stop(); }
});

test('an unauthenticated socket is closed after login_timeout', async () => {
  const srv = await startServer({ config: { ...usersConfig(), server: { login_timeout: 2 } } });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const t0 = Date.now();
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.ok(Date.now() - t0 < 4000);
  } finally { await srv.stop(); }
});

test('an idle session is closed after session_idle_timeout; pings keep it open', async () => {
  const srv = await startServer({ config: { server: { session_idle_timeout: 2 } } });
  try {
    const pinger = await SignalClient.connect(srv.wsUrl);
    const idle = await SignalClient.connect(srv.wsUrl);
    const timer = setInterval(() => pinger.send({ type: 'ping' }), 500);
    const closed = await idle.closed;
    clearInterval(timer);
    assert.equal(closed.code, 1001);
    assert.equal(pinger.ws.readyState, pinger.ws.OPEN);
    await pinger.close();
  } finally { await srv.stop(); }
});

test('/healthz counts sessions', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    const h = await fetchRaw(`${srv.httpUrl}/healthz`);
    const body = JSON.parse(h.body);
    assert.equal(body.status, 'ok');
    assert.equal(body.sessions, 1);
    assert.equal(body.calls, 0);
    assert.deepEqual(body.registrations, {});
    await c.close();
  } finally { await srv.stop(); }
});
