// Registration recovery (issue 5, Faults): the provider goes away, its name does not resolve, or
// it is overloaded (503 + Retry-After). The server account's registration backs off, says why,
// and comes back by itself when the peer does; a logged-in tab sees every state change as
// `registration` messages (docs/protocol.md).
//
// Timing is checked for ordering and lower bounds only (never "fast enough"): no REGISTER may
// reach an overloaded registrar before its Retry-After has passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fetchRaw, freePort } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { startKamailio, startSipp } from '../lib/sip-peers.mjs';

const PASSWORD = 'alice-Recover-1';

/** Collects the account's registration messages as the tab receives them, with arrival times. */
function watchRegistrations(client, name) {
  const seen = [];
  client.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'registration' && m.account === name) seen.push({ ...m, at: Date.now() });
  });
  return {
    seen,
    /** Waits for a registration message with this state after index from; returns its index. */
    async next(state, from, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = seen.findIndex((m, k) => k >= from && m.state === state);
        if (i >= 0) return i;
        if (Date.now() > deadline) {
          throw new Error(`no '${state}' after #${from} in ${ms} ms: ${JSON.stringify(seen)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** A tab logged in (open mode) that watches account `name`; resolves once it is registered. */
async function tabWatching(srv, name, registeredWithin = 8000) {
  const client = await SignalClient.connect(srv.wsUrl);
  const watch = watchRegistrations(client, name);
  const welcome = await client.next('welcome');
  const status = welcome.accounts.find((a) => a.name === name)?.registration;
  assert.ok(status, JSON.stringify(welcome));
  if (status.state !== 'registered') await watch.next('registered', 0, registeredWithin);
  return { client, watch };
}

test('Kamailio stops and comes back: registered -> failed (reason) -> registered', async () => {
  const kam1 = await startKamailio({ users: { alice: PASSWORD } });
  const port = kam1.port;
  let kam2 = null;
  const srv = await startServer({ config: {
    sip: { register_retry_min: 1, register_retry_max: 2 },
    // TCP: a stopped registrar is seen at once (connection refused), not after a 32 s timeout.
    'account alice': { uri: 'sip:alice@127.0.0.1', password: PASSWORD, transport: 'tcp',
                       registrar: `sip:127.0.0.1:${port}`, expires: 10 },
  } });
  try {
    const { client, watch } = await tabWatching(srv, 'alice');
    const start = watch.seen.length;
    await kam1.stop();
    // The next refresh (expires 10 s: after 5 s) fails; the tab is told why.
    const failedAt = await watch.next('failed', start, 12000);
    const failed = watch.seen[failedAt];
    assert.ok(failed.retry_in >= 1 && failed.retry_in <= 2, JSON.stringify(failed));
    assert.match(failed.reason, new RegExp(`127\\.0\\.0\\.1:${port}.*retrying in \\d s`), failed.reason);
    // It keeps retrying with backoff while the registrar is away (a second failure, capped).
    const again = await watch.next('failed', failedAt + 1, 8000);
    assert.ok(watch.seen[again].retry_in <= 2, JSON.stringify(watch.seen[again]));
    // Back on the same port: the next retry registers without anyone asking.
    kam2 = await startKamailio({ users: { alice: PASSWORD }, port });
    const backAt = await watch.next('registered', again + 1, 10000);
    assert.equal(watch.seen[backAt].code, 200);
    assert.ok(kam2.registers().some((r) => r.user === 'alice'), 'the new Kamailio saw the REGISTER');
    await srv.waitForLog(/registered/);
    await client.close();
  } finally {
    await srv.stop();
    if (kam2) await kam2.stop();
    assert.ok(!srv.logs().includes(PASSWORD), 'password leaked into the log');
  }
});

test('503 with Retry-After: failed with retry_in, no REGISTER before it, then registered', async () => {
  const retryAfter = 3;
  const uas = await startSipp('recovery-503.xml', { args: ['-m', '1', '-t', 'u1'] });
  const srv = await startServer({ config: {
    sip: { register_retry_min: 1, register_retry_max: 2 },
    'account alice': { uri: 'sip:alice@127.0.0.1', registrar: `sip:127.0.0.1:${uas.port}` },
  } });
  try {
    const client = await SignalClient.connect(srv.wsUrl);
    const watch = watchRegistrations(client, 'alice');
    await client.next('welcome');
    const failedAt = await watch.next('failed', 0, 8000).catch(() => -1);
    // The 503 may have come before the tab connected: then the welcome carried it. Either way
    // the registration ends registered, and the registrar's trace has the timing.
    const okAt = await watch.next('registered', Math.max(failedAt, 0), 15000);
    if (failedAt >= 0) {
      const failed = watch.seen[failedAt];
      assert.equal(failed.code, 503);
      assert.equal(failed.retry_in, retryAfter);
      assert.match(failed.reason, /^503 Service Unavailable from 127\.0\.0\.1:\d+ — retrying in 3 s$/);
      assert.ok(okAt > failedAt);
    }
    // sipp's trace: the time of each REGISTER it received.
    const times = [...uas.messages().matchAll(/^-+ (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\s*\n(?:.*\n){0,2}?REGISTER /gm)];
    assert.ok(times.length >= 2, uas.messages().slice(0, 3000));
    const t = times.map((m) => Date.parse(`${m[1]}T${m[2].slice(0, 12)}Z`));
    const gap = (t[1] - t[0]) / 1000;
    // Ordering: the retry came after Retry-After (less 0.2 s for clock granularity), not before.
    assert.ok(gap >= retryAfter - 0.2, `second REGISTER ${gap.toFixed(2)} s after the first (Retry-After: ${retryAfter})`);
    console.log(`# 503 Retry-After ${retryAfter}: the retry came ${gap.toFixed(2)} s after the first REGISTER`);
    await client.close();
  } finally {
    await srv.stop();
    await uas.stop();
  }
});

/** Two failures in a row seen by the tab, each naming the host and DNS, retried with backoff;
 * meanwhile the server stays responsive (healthz) — sofia must never be left spinning. */
async function assertDnsFailures(srv, hostRe) {
  const client = await SignalClient.connect(srv.wsUrl);
  const watch = watchRegistrations(client, 'alice');
  await client.next('welcome');
  const first = await watch.next('failed', 0, 15000);
  const second = await watch.next('failed', first + 1, 15000);
  for (const ev of [watch.seen[first], watch.seen[second]]) {
    assert.equal(ev.code, 0, JSON.stringify(ev));
    assert.match(ev.reason, hostRe, ev.reason);
    assert.match(ev.reason, /DNS/, ev.reason);
    assert.ok(ev.retry_in >= 1 && ev.retry_in <= 2, JSON.stringify(ev));
  }
  const h = await fetchRaw(`${srv.httpUrl}/healthz`);
  assert.equal(h.status, 200);
  await client.close();
  return [watch.seen[first], watch.seen[second]];
}

test('an unresolvable registrar (system resolver): failed with a DNS reason, retried, server responsive', async () => {
  // Inside the test namespace no DNS server is reachable (resolv.conf names one outside it).
  const srv = await startServer({ config: {
    sip: { register_retry_min: 1, register_retry_max: 2 },
    'account alice': { uri: 'sip:alice@example.invalid', registrar: 'sip:registrar.example.invalid' },
  } });
  try {
    const [ev] = await assertDnsFailures(srv, /cannot resolve registrar\.example\.invalid/);
    console.log(`# system resolver: ${ev.reason}`);
  } finally {
    const r = await srv.stop('SIGTERM', 8000);
    assert.equal(r.signal, null, 'SIGTERM did not stop the server (killed)');
  }
});

test('an unresolvable registrar ([sip] dns_server with no DNS server behind it): DNS reason, retried', async () => {
  const dead = await freePort();
  const srv = await startServer({ config: {
    sip: { register_retry_min: 1, register_retry_max: 2, dns_server: `127.0.0.1:${dead}` },
    'account alice': { uri: 'sip:alice@example.invalid', registrar: 'sip:registrar.example.invalid' },
  } });
  try {
    const [ev] = await assertDnsFailures(srv, /cannot resolve registrar\.example\.invalid/);
    console.log(`# dns_server down: ${ev.reason}`);
  } finally {
    const r = await srv.stop('SIGTERM', 8000);
    assert.equal(r.signal, null, 'SIGTERM did not stop the server (killed)');
  }
});
