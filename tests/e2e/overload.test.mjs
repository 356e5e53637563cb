// RTP ports exhausted, with real media (issue 5 "Faults"): the server has one RTP port pair.
// The dialer calls a baresip phone (tone each way); a second call from another tab is refused
// with hangup 503 no_media_ports and an INVITE from a second phone gets 503; the first call's
// audio goes on both ways; after it ends, the dialer can call again. The signaling side of the
// same case (metrics, Retry-After) is tests/sip/overload.test.mjs.
// Runs inside the loopback-only namespace of tests/e2e/run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { SignalClient } from '../lib/client.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP } from './lib/browser.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const near = (f, want, tol = 15) => Math.abs(f - want) <= tol;
const PORT = 21000; // below the phones' RTP ports (30000+); the namespace is the test's own

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

let srv;
let browser;
let page;
const phones = [];

before(async () => {
  assertInsideTestNamespace();
  srv = await startServer({
    config: {
      media: { port_min: PORT, port_max: PORT + 1 },
      'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' },
    },
  });
  browser = await launchBrowser({ toneHz: 440 });
  page = await browser.newPage();
  await page.setViewportSize(DESKTOP);
});

after(async () => {
  await browser?.close();
  for (const p of phones) await p.stop().catch(() => {});
  await srv?.stop();
  assert.deepEqual(browser?.errors ?? [], [], 'the page logged errors');
});

async function phone(options) {
  const p = await startBaresip(options);
  phones.push(p);
  return p;
}

async function dial(uri) {
  await page.getByLabel('Number or SIP address').fill(uri);
  await page.getByRole('button', { name: 'Call', exact: true }).click();
  await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
  await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
}

async function hears880(what) {
  const m = await page.evaluate(() => window.tabphone.measureRemoteTone(1000));
  assert.ok(near(m.frequency, 880), `${what}: the tab heard ${m.frequency} Hz`);
  assert.ok(m.level > -60, `${what}: level ${m.level} dB`);
}

test('ports exhausted: new calls refused with 503, the call in progress keeps its audio both ways', async () => {
  const far = await phone({ toneHz: 880 });
  await page.goto(`${srv.httpsUrl}/?rawaudio=1`);
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
  await dial(far.uri);
  const t0 = Date.now();
  await sleep(1000);

  // Another tab's call and another phone's INVITE find no port pair.
  const other = await SignalClient.connect(srv.wsUrl);
  await other.next('welcome');
  const second = await phone({ toneHz: 660, user: 'second' });
  other.send({ type: 'call', call_id: 'x1', to: second.uri, sdp: OFFER });
  const refused = await other.next((m) => m.call_id === 'x1' && m.type === 'hangup');
  assert.deepEqual([refused.code, refused.reason], [503, 'no_media_ports']);
  await other.close();
  const caller = await phone({ toneHz: 660, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  await caller.waitFor(/503|Service Unavailable/, 8000);
  await srv.waitForLog(/INVITE refused with 503: no free RTP port/);
  const refusedAt = (Date.now() - t0) / 1000;

  await sleep(1000);
  await hears880('after the refusals');
  await sleep(1500);
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
  await far.waitFor(/terminated|closed/);
  await sleep(500);
  const [afterRefusal] = far.heardSegments([[refusedAt + 0.5, 1.5]]);
  assert.ok(near(afterRefusal.frequency, 440, 20), `after the refusals the phone heard ${afterRefusal.frequency} Hz`);
  assert.ok(afterRefusal.rms > 0.05, `after the refusals the phone heard rms ${afterRefusal.rms}`);

  // The pair is free again: a new call gets it and carries audio.
  const again = await phone({ toneHz: 880, user: 'again' });
  await sleep(500);
  await dial(again.uri);
  await sleep(1500);
  await hears880('the next call');
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
});
