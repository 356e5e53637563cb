// registration.test.mjs: server/sip/ registrations against real peers on 127.0.0.1
// (Kamailio 5.6 registrar with digest auth, sipp scenarios, a silent UDP port).
//
//   node --test tests/sip/registration.test.mjs
// Needs the probe built: ninja -C <builddir> tests/sip/reg_probe (REG_PROBE=path overrides;
// default looks in build-sip/, then build/).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { freePort, repoRoot, startBlackhole, startKamailio, startSipp } from '../lib/sip-peers.mjs';

const PASSWORDS = { alice: 'alice-secret', colon: 'p:ss@w0rd:with"quote' };

function probePath() {
  if (process.env.REG_PROBE) return process.env.REG_PROBE;
  for (const dir of ['build-sip', 'build']) {
    const p = path.join(repoRoot, dir, 'tests', 'sip', 'reg_probe');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('reg_probe not built (ninja -C build tests/sip/reg_probe)');
}

/** Runs reg_probe to its end; returns { events, stderr, code }. */
async function runProbe({ user, password, registrar, args = [], timeoutMs = 60000 }) {
  const port = await freePort();
  const child = spawn(probePath(), ['--port', String(port), '--uri', `sip:${user}@127.0.0.1`,
    '--registrar', registrar, ...args], {
    env: { ...process.env, REG_PROBE_PASSWORD: password ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { events: lines.filter((e) => e.event === 'registration'), lines, stderr, code };
}

const states = (events) => events.map((e) => e.state);

describe('registration with Kamailio (digest auth)', { concurrency: true }, () => {
  let kam;
  before(async () => { kam = await startKamailio({ users: PASSWORDS }); });
  after(async () => { await kam?.stop(); });
  const registrar = () => `127.0.0.1:${kam.port}`;

  test('registers with the right password and unregisters on stop', async () => {
    const r = await runProbe({ user: 'alice', password: PASSWORDS.alice, registrar: registrar(),
      args: ['--expires', '300', '--stop-after-registered'] });
    assert.equal(r.code, 0, r.stderr);
    const registered = r.events.find((e) => e.state === 'registered');
    assert.ok(registered, JSON.stringify(r.events));
    assert.equal(registered.code, 200);
    assert.equal(registered.expires, 300);
    assert.equal(registered.reason, 'registered (200 OK, expires 300 s)');
    const last = r.events.at(-1);
    assert.equal(last.state, 'unregistered');
    assert.equal(last.code, 200);
    assert.ok(r.lines.some((l) => l.event === 'shutdown_done'));
  });

  test('a password containing ":", "@" and a quote works (sent to sofia as HA1)', async () => {
    const r = await runProbe({ user: 'colon', password: PASSWORDS.colon, registrar: registrar(),
      args: ['--stop-after-registered'] });
    assert.ok(r.events.some((e) => e.state === 'registered'), JSON.stringify(r.events));
  });

  test('registers over TCP', async () => {
    const r = await runProbe({ user: 'alice', password: PASSWORDS.alice, registrar: registrar(),
      args: ['--transport', 'tcp', '--stop-after-registered'] });
    assert.ok(r.events.some((e) => e.state === 'registered'), JSON.stringify(r.events));
    assert.ok(kam.registers().some((m) => m.proto === 'tcp'));
  });

  test('a wrong password fails with 403 and a reason naming username/password', async () => {
    const r = await runProbe({ user: 'alice', password: 'not-the-password', registrar: registrar(),
      args: ['--retry-max', '60', '--run-seconds', '2'] });
    const failed = r.events.find((e) => e.state === 'failed');
    assert.ok(failed, JSON.stringify(r.events));
    assert.ok([401, 403].includes(failed.code));
    assert.match(failed.reason, /^40[13] \S+.* from 127\.0\.0\.1:\d+ — check username\/password/);
    assert.equal(failed.retry_in, 60);
    assert.equal(r.events.filter((e) => e.state === 'failed').length, 1, 'no auth loop');
  });

  test('refreshes before expiry (expires=10: several REGISTERs within 12 s)', async () => {
    const before = kam.registers().filter((m) => m.user === 'alice' && m.expires === '10').length;
    const r = await runProbe({ user: 'alice', password: PASSWORDS.alice, registrar: registrar(),
      args: ['--expires', '10', '--run-seconds', '12'] });
    const registered = r.events.filter((e) => e.state === 'registered');
    assert.ok(registered.length >= 2, JSON.stringify(r.events));
    assert.ok(!r.events.some((e) => e.state === 'failed'), JSON.stringify(r.events));
    // Each refresh comes at most expires/2 = 5 s after the previous one.
    for (let i = 1; i < registered.length; i++)
      assert.ok(registered[i].t - registered[i - 1].t <= 5500, JSON.stringify(registered));
    const sent = kam.registers().filter((m) => m.user === 'alice' && m.expires === '10').length - before;
    assert.ok(sent >= 3, `authorized REGISTERs with Expires 10 seen by Kamailio: ${sent}`);
  });

  test('shutdown un-REGISTERs a registration that was not stopped', async () => {
    const r = await runProbe({ user: 'alice', password: PASSWORDS.alice, registrar: registrar(),
      args: ['--shutdown-only', '--run-seconds', '1'] });
    assert.deepEqual(states(r.events), ['registering', 'registered', 'unregistered']);
    assert.equal(r.events.at(-1).code, 200);
  });

  test('freeing a registered registration still un-REGISTERs it (no event)', async () => {
    const before = kam.registers().filter((m) => m.expires === '0').length;
    const r = await runProbe({ user: 'alice', password: PASSWORDS.alice, registrar: registrar(),
      args: ['--free-registered', '--run-seconds', '1'] });
    assert.deepEqual(states(r.events), ['registering', 'registered']);
    assert.ok(kam.registers().filter((m) => m.expires === '0').length > before);
  });

  test('passwords never appear in the log (stderr)', async () => {
    for (const [user, password] of Object.entries(PASSWORDS)) {
      const r = await runProbe({ user, password, registrar: registrar(),
        args: ['--stop-after-registered'] });
      assert.ok(r.stderr.length > 0);
      assert.ok(!r.stderr.includes(password), `password of ${user} in the log`);
      assert.ok(!/Authorization/i.test(r.stderr), 'an Authorization header in the log');
    }
  });
});

describe('registration against sipp and silent peers', { concurrency: true }, () => {
  test('423 Interval Too Brief: retried with Min-Expires 60, then registered', async () => {
    const uas = await startSipp('reg-423.xml');
    try {
      const r = await runProbe({ user: 'bob', registrar: `127.0.0.1:${uas.port}`,
        args: ['--expires', '10', '--stop-after-registered'] });
      const interval = r.events.find((e) => e.code === 423);
      assert.ok(interval, JSON.stringify(r.events));
      assert.equal(interval.reason, '423 Interval Too Brief — retrying with expires 60');
      const registered = r.events.find((e) => e.state === 'registered');
      assert.equal(registered?.expires, 60, JSON.stringify(r.events));
      assert.match(uas.messages(), /REGISTER[\s\S]*Expires: 60/);
    } finally {
      await uas.stop();
    }
  });

  test('503 with Retry-After: failed with retry_in 2, then registered, then unregistered', async () => {
    const uas = await startSipp('reg-503.xml');
    try {
      const r = await runProbe({ user: 'bob', registrar: `127.0.0.1:${uas.port}`,
        args: ['--stop-after-registered'] });
      const failed = r.events.find((e) => e.state === 'failed');
      assert.equal(failed?.code, 503, JSON.stringify(r.events));
      assert.equal(failed.retry_in, 2);
      assert.match(failed.reason, /^503 Service Unavailable from 127\.0\.0\.1:\d+ — retrying in 2 s$/);
      const registered = r.events.find((e) => e.state === 'registered');
      assert.ok(registered && registered.t - failed.t >= 1900, JSON.stringify(r.events));
      assert.equal(r.events.at(-1).state, 'unregistered');
      // The un-REGISTER really carried Expires: 0.
      assert.match(uas.messages(), /REGISTER sip:[^\n]*\n(?:[^\n]+\n)*?Expires: 0/);
    } finally {
      await uas.stop();
    }
  });

  test('nothing listening (ICMP unreachable): failed at once with backoff', async () => {
    const port = await freePort();
    const r = await runProbe({ user: 'bob', registrar: `127.0.0.1:${port}`,
      args: ['--retry-min', '1', '--retry-max', '4', '--run-seconds', '4'] });
    const failed = r.events.filter((e) => e.state === 'failed');
    assert.ok(failed.length >= 2, JSON.stringify(r.events));
    assert.equal(failed[0].code, 0);
    assert.deepEqual(failed.slice(0, 2).map((e) => e.retry_in), [1, 2]);
    assert.match(failed[0].reason, /^cannot reach 127\.0\.0\.1:\d+/);
  });

  test('no answer: failed with a 408 timeout reason and retry_in', async () => {
    const hole = await startBlackhole();
    try {
      const r = await runProbe({ user: 'bob', registrar: `127.0.0.1:${hole.port}`,
        args: ['--retry-min', '5', '--run-seconds', '34'], timeoutMs: 60000 });
      const failed = r.events.find((e) => e.state === 'failed');
      assert.ok(failed, JSON.stringify(r.events));
      assert.equal(failed.code, 0);
      assert.equal(failed.retry_in, 5);
      assert.match(failed.reason, /^no answer from 127\.0\.0\.1:\d+ \(408 timeout\) — retrying in 5 s$/);
      assert.ok(hole.received() >= 5, 'UDP retransmissions reached the silent peer');
    } finally {
      await hole.stop();
    }
  });
});
