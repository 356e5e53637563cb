// The dialer's "Test call" against the REAL server: the built-in `echo` destination loops the
// tab's audio back, so the fake microphone's 440 Hz tone must come back out of the call.
// This covers the whole media path a user's first call takes: getUserMedia, the offer sent
// before ICE gathering ends, trickled candidates both ways, ICE + DTLS-SRTP to tabphone, and
// the remote track reaching the page's <audio> element.
//
// Starts build/server/tabphone (or $TABPHONE_BIN) in open mode on 127.0.0.1 through
// tests/lib/server.mjs. Runs inside the loopback-only network namespace of tests/e2e/run.sh or
// scripts/test (assertInsideTestNamespace refuses anything else).
//
// A server build whose calls are not there yet answers the `call` with error
// `not_implemented`: the test is then skipped, saying so. Any other failure fails it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { assertInsideTestNamespace, launchBrowser } from './lib/browser.mjs';

const TONE_HZ = 440;

let browser;

before(async () => {
  assertInsideTestNamespace();
  browser = await launchBrowser({ toneHz: TONE_HZ });
});

after(async () => {
  await browser?.close();
});

// One Test call, from the click to the hangup: connected, tone back, packets counted.
// Returns false when this server build has no echo destination (the test is skipped then).
async function testCallBringsToneBack(t, srv, page, testCall) {
  await testCall.click();

  // Connected = answered by the server AND the media path up (ICE + DTLS done).
  const outcome = await page.waitForFunction(() => {
    const call = window.tabphone.calls.current;
    if (!call) return null;
    if (call.ended) return { ended: true, code: call.end.code || null, words: call.end.words };
    if (call.state === 'connected' && call.pc && call.pc.connectionState === 'connected') return { ended: false };
    if (call.pc && call.pc.connectionState === 'failed') return { ended: false, failed: true };
    return null;
  }, null, { timeout: 20_000, polling: 100 }).then((h) => h.jsonValue());

  if (outcome.ended && outcome.code === 'not_implemented') {
    t.skip(`this server build answers a call to "echo" with not_implemented (${outcome.words}); `
      + 'the test runs once the server\'s echo destination exists');
    return false;
  }
  assert.notEqual(outcome.code, 'invalid_field',
    `the server refused "echo" as a call target: ${outcome.words} (its validation of 'to' predates the echo destination)`);
  assert.equal(outcome.ended, false, `the test call ended: ${outcome.words} (${outcome.code})\n--- server log ---\n${srv.logs().slice(-4000)}`);
  assert.ok(!outcome.failed, `ICE/DTLS to the server failed\n--- server log ---\n${srv.logs().slice(-4000)}`);

  // What the user sees.
  await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor();
  const badge = (await page.locator('#call-badge').textContent()).replace(/\s+/g, ' ').trim();
  assert.match(badge, /dtls/i, `the badge should name the browser leg's encryption: ${badge}`);

  // What the user hears: the tone, back from the server.
  const tone = await page.evaluate(() => window.tabphone.measureRemoteTone(2000));
  assert.ok(Math.abs(tone.frequency - TONE_HZ) <= 15, `the loudest frequency coming back is ${tone.frequency} Hz, not ${TONE_HZ} Hz`);
  assert.ok(tone.level > -60, `the tone comes back at ${tone.level.toFixed(1)} dB: too quiet (silence reads -200)`);

  // ~50 packets/s at 20 ms ptime: more than 100 within a few seconds of connecting.
  const readStats = () => page.evaluate(async () => {
    const report = await window.tabphone.calls.pc.getStats();
    let inbound = null;
    let pair = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost };
      if (s.type === 'transport') pair = { dtlsState: s.dtlsState, srtpCipher: s.srtpCipher };
    });
    return { inbound, pair };
  });
  let stats = await readStats();
  for (let i = 0; i < 30 && !(stats.inbound?.packetsReceived > 100); i++) {
    await new Promise((r) => setTimeout(r, 100));
    stats = await readStats();
  }
  t.diagnostic(`echo: ${tone.frequency.toFixed(1)} Hz at ${tone.level.toFixed(1)} dB; ${JSON.stringify(stats)}; badge: ${badge}`);
  assert.ok(stats.inbound && stats.inbound.packetsReceived > 100, `too few packets came back: ${JSON.stringify(stats)}`);
  assert.equal(stats.pair?.dtlsState, 'connected', JSON.stringify(stats));

  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
  assert.equal(await page.evaluate(() => window.tabphone.calls.pc), null);
  return true;
}

test('the Test call to echo brings the 440 Hz tone back over DTLS-SRTP', async (t) => {
  // debug: the log says when the server gave its free memory back (see the second call).
  const srv = await startServer({ config: { log: { level: 'debug' } } });
  t.after(() => srv.stop());
  const errorsBefore = browser.errors.length;
  const page = await browser.newPage();
  t.after(() => page.close());

  // rawaudio: no echo cancellation / noise suppression / AGC, which would eat the tone.
  await page.goto(`${srv.httpsUrl}/?rawaudio=1`);
  const testCall = page.getByRole('button', { name: 'Test call' });
  await testCall.waitFor();
  await page.waitForFunction(() => window.tabphone.session.phase === 'ready');
  if (!await testCallBringsToneBack(t, srv, page, testCall)) return;

  // Idle for 2 s, the server gives memory back by replacing its media worker threads
  // (media_engine_release_memory). The next call must run on the new threads as well.
  for (let i = 0; i < 100 && !/returning free memory to the system/.test(srv.logs()); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(srv.logs(), /returning free memory to the system/, 'the server never went idle');
  await new Promise((r) => setTimeout(r, 200));
  await testCallBringsToneBack(t, srv, page, testCall);
  assert.deepEqual(browser.errors.slice(errorsBefore), [], 'the page logged errors');
});
