// SIP registration through the whole server, against a real Kamailio registrar with digest
// auth on loopback: what a tab sees over /ws, and what the registrar sees on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { startKamailio } from '../lib/sip-peers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PASSWORDS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2' };

function account(kam, user, extra = {}) {
  return {
    uri: `sip:${user}@127.0.0.1`,
    password: PASSWORDS[user],
    registrar: `sip:127.0.0.1:${kam.port}`,
    ...extra,
  };
}

// Un-REGISTERs carry expires=0 in the Expires header or in the Contact.
const isUnregister = (r) => r.expires === '0' || /expires=0\b/.test(r.contact);

function assertNoSecrets(logs) {
  for (const pw of Object.values(PASSWORDS)) assert.ok(!logs.includes(pw), `password ${pw} leaked into the log`);
}

test('a server account registers at startup and a tab sees it registered', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer({ config: { 'account alice': account(kam, 'alice') } });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.next('welcome');
    const alice = w.accounts.find((a) => a.name === 'alice');
    assert.ok(alice, JSON.stringify(w));
    let state = alice.registration.state;
    if (state !== 'registered') {
      const ev = await c.next((m) => m.type === 'registration' && m.account === 'alice' && m.state === 'registered');
      state = ev.state;
      assert.equal(ev.code, 200);
    }
    assert.equal(state, 'registered');
    assert.ok(kam.registers().some((r) => r.user === 'alice'), 'kamailio saw an authenticated REGISTER');
    await c.close();
  } finally {
    await srv.stop();
    await kam.stop();
    assertNoSecrets(srv.logs());
  }
});

test('a wrong password is reported as 403 with a reason a person can act on', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer({ config: { 'account alice': account(kam, 'alice', { password: 'wrong-Pass-9' }) } });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    const w = await c.next('welcome');
    // The 403 may arrive before the tab connects (then welcome carries it) or after.
    let ev = w.accounts.find((a) => a.name === 'alice').registration;
    if (ev.state !== 'failed') {
      ev = await c.next((m) => m.type === 'registration' && m.state === 'failed', 10000);
      assert.equal(ev.account, 'alice');
    }
    assert.equal(ev.code, 403);
    assert.match(ev.reason, /403 Forbidden from 127\.0\.0\.1:\d+ .*check username\/password/);
    const health = await (await fetch(`${srv.httpUrl}/healthz`)).json();
    assert.equal(health.registrations.alice, 'failed');
    assert.ok(!srv.logs().includes('wrong-Pass-9'));
    await c.close();
  } finally {
    await srv.stop();
    await kam.stop();
  }
});

test('registration is refreshed before it expires', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer({ config: { 'account alice': account(kam, 'alice', { expires: 10 }) } });
  try {
    await srv.waitForLog(/reg alice.*registered/, 5000);
    await sleep(12000);
    const regs = kam.registers().filter((r) => r.user === 'alice' && !isUnregister(r));
    // One authenticated REGISTER at start, then at least one refresh within 12 s of a 10 s lifetime.
    assert.ok(regs.length >= 2, `expected a refresh, saw ${regs.length} authenticated REGISTERs`);
    const health = await (await fetch(`${srv.httpUrl}/healthz`)).json();
    assert.equal(health.registrations.alice, 'registered');
  } finally {
    await srv.stop();
    await kam.stop();
  }
});

test('SIGTERM un-REGISTERs server accounts before exiting', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer({ config: { 'account alice': account(kam, 'alice') } });
  try {
    await srv.waitForLog(/reg alice.*registered/, 5000);
    const r = await srv.stop('SIGTERM');
    assert.equal(r.code, 0, srv.logs());
    assert.ok(kam.registers().some((x) => x.user === 'alice' && isUnregister(x)), 'un-REGISTER reached kamailio');
    assertNoSecrets(srv.logs());
  } finally {
    await srv.stop();
    await kam.stop();
  }
});

test('a bring-your-own account registers from the tab and is un-REGISTERed when the tab leaves', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    const uri = 'sip:bob@127.0.0.1';
    const first = await c.request({
      type: 'register', uri, username: 'bob', password: PASSWORDS.bob,
      proxy: `sip:127.0.0.1:${kam.port}`, expires: 120,
    });
    assert.equal(first.type, 'registration');
    assert.equal(first.uri, uri);
    const ok = await c.next((m) => m.type === 'registration' && m.state === 'registered', 8000);
    assert.equal(ok.code, 200);
    assert.ok(ok.expires > 0 && ok.expires <= 120);
    const dup = await c.request({ type: 'register', uri, username: 'bob', password: PASSWORDS.bob });
    assert.equal(dup.code, 'already_registered');
    await c.close();
    const deadline = Date.now() + 5000;
    while (!kam.registers().some((x) => x.user === 'bob' && isUnregister(x)) && Date.now() < deadline) await sleep(100);
    assert.ok(kam.registers().some((x) => x.user === 'bob' && isUnregister(x)), 'un-REGISTER after the tab left');
  } finally {
    await srv.stop();
    await kam.stop();
    assertNoSecrets(srv.logs());
  }
});

test('a bring-your-own account with a wrong password fails and can be unregistered', async () => {
  const kam = await startKamailio({ users: PASSWORDS });
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    const uri = 'sip:bob@127.0.0.1';
    await c.request({ type: 'register', uri, username: 'bob', password: 'nope-Nope-3', proxy: `sip:127.0.0.1:${kam.port}` });
    const failed = await c.next((m) => m.type === 'registration' && m.state === 'failed', 8000);
    assert.equal(failed.code, 403);
    const u = await c.request({ type: 'unregister', uri });
    assert.equal(u.type, 'registration');
    await c.next((m) => m.type === 'registration' && m.state === 'unregistered', 5000);
    const again = await c.request({ type: 'unregister', uri });
    assert.equal(again.code, 'not_registered');
    assert.ok(!srv.logs().includes('nope-Nope-3'));
    await c.close();
  } finally {
    await srv.stop();
    await kam.stop();
  }
});
