// Session resume through the real dialer (issue 5 "Faults"): headless Chromium <-> tabphone <->
// baresip with a tone each way. The page's WebSocket is dropped mid-call (closed with 4000, what
// the dialer's own keepalive does when pongs stop coming); the dialer reconnects, resumes its
// session with the welcome's resume token, and the call goes on: the tab still hears the
// phone's 880 Hz and the phone still hears the tab's 440 Hz after the resume. Both directions
// (the tab calls; a phone calls the tab), and a tab that comes back too late (BYE sent, the
// dialer ends the call and starts a fresh session).
// Runs inside the loopback-only namespace of tests/e2e/run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fetchRaw, freePort } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP } from './lib/browser.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const near = (f, want, tol = 15) => Math.abs(f - want) <= tol;

let srv;
let browser;
let page;
let far;
let deadUrl = ''; // where test 2 points the page's reconnects: its connection errors are expected

before(async () => {
  assertInsideTestNamespace();
  srv = await startServer({
    config: {
      server: { reconnect_grace_seconds: 10 },
      'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' }, // calls to it ring the tab
    },
  });
  browser = await launchBrowser({ toneHz: 440 });
  page = await browser.newPage();
  await page.setViewportSize(DESKTOP);
});

after(async () => {
  await browser?.close();
  await far?.stop().catch(() => {});
  await srv?.stop();
  const errors = (browser?.errors ?? []).filter((e) => !deadUrl || !e.includes(deadUrl));
  assert.deepEqual(errors, [], 'the page logged errors');
});

const health = async () => JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body);

async function hears880(what) {
  const m = await page.evaluate(() => window.tabphone.measureRemoteTone(1000));
  assert.ok(near(m.frequency, 880), `${what}: the tab heard ${m.frequency} Hz, expected 880 Hz`);
  assert.ok(m.level > -60, `${what}: the tone level ${m.level} dB is silence`);
}

test('the WebSocket drops mid-call: the dialer resumes and the tone goes on both ways', async () => {
  far = await startBaresip({ toneHz: 880 });
  await page.goto(`${srv.httpsUrl}/?rawaudio=1`);
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
  await page.getByLabel('Number or SIP address').fill(far.uri);
  await page.getByRole('button', { name: 'Call', exact: true }).click();
  await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
  await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
  const t0 = Date.now();
  await sleep(1500);
  await hears880('before the drop');

  // The link dies the way a dead path does for the dialer (its keepalive closes with 4000).
  const callId = await page.evaluate(() => {
    window.tabphone.signaling.ws.close(4000, 'test: link lost');
    return window.tabphone.calls.current.id;
  });
  await srv.waitForLog(/connection lost: 1 call\(s\) and 0 own registration\(s\) kept for 10 s/);
  await page.waitForFunction(() => window.tabphone.calls.current?.reconnecting === true, null, { timeout: 2000 });
  await srv.waitForLog(/user local resumed session \w+ \(detached\): 1 call\(s\)/, 8000);
  await page.waitForFunction(() => window.tabphone.signaling.connected
    && window.tabphone.calls.current && !window.tabphone.calls.current.reconnecting, null, { timeout: 5000 });
  const resumedAt = (Date.now() - t0) / 1000;
  const call = await page.evaluate(() => {
    const c = window.tabphone.calls.current;
    return { id: c.id, ended: c.ended, state: c.state, note: c.note, media: c.mediaState };
  });
  assert.deepEqual({ id: call.id, ended: call.ended, state: call.state, note: call.note },
    { id: callId, ended: false, state: 'connected', note: '' });
  const h = await health();
  assert.deepEqual([h.calls, h.sessions, h.detached_sessions], [1, 1, 0]);
  assert.doesNotMatch(far.output(), /terminated|closed/, 'the phone was hung up during the drop');

  await sleep(1000);
  await hears880('after the resume');
  await sleep(2000);
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
  await far.waitFor(/terminated|closed/);
  await sleep(500);
  // The phone's recording starts about when media connected (t0): a slice after the resume.
  const [afterResume] = far.heardSegments([[resumedAt + 0.7, 1.5]]);
  console.log(`# resumed ${resumedAt.toFixed(1)} s into the call; the phone heard `
    + `${afterResume.frequency} Hz rms ${afterResume.rms} after it`);
  assert.ok(near(afterResume.frequency, 440, 20), `after the resume the phone heard ${afterResume.frequency} Hz`);
  assert.ok(afterResume.rms > 0.05, `after the resume the phone heard rms ${afterResume.rms}`);
  for (let i = 0; i < 20 && (await health()).calls !== 0; i++) await sleep(100);
  assert.equal((await health()).calls, 0);
});

test('an accepted incoming call survives a drop too (the server offered, the tab answered)', async () => {
  const caller = await startBaresip({ toneHz: 880, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  try {
    await page.locator('#incoming').waitFor({ timeout: 10000 });
    await page.getByRole('button', { name: 'Accept' }).click();
    await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
    const t0 = Date.now();
    await sleep(1000);
    await page.evaluate(() => window.tabphone.signaling.ws.close(4000, 'test: link lost'));
    await srv.waitForLog(/user local resumed session \w+ \(detached\): 1 call\(s\)/, 8000);
    await page.waitForFunction(() => window.tabphone.signaling.connected
      && window.tabphone.calls.current && !window.tabphone.calls.current.reconnecting, null, { timeout: 5000 });
    const resumedAt = (Date.now() - t0) / 1000;
    await sleep(1000);
    await hears880('incoming call after the resume');
    await sleep(1500);
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
    await caller.waitFor(/terminated|closed/);
    await sleep(500);
    const [afterResume] = caller.heardSegments([[resumedAt + 0.7, 1.5]]);
    assert.ok(near(afterResume.frequency, 440, 20), `after the resume the caller heard ${afterResume.frequency} Hz`);
    assert.ok(afterResume.rms > 0.05, `after the resume the caller heard rms ${afterResume.rms}`);
  } finally {
    await caller.stop();
  }
});

test('back after the grace period: the far end got BYE, the dialer ends the call and starts afresh', async () => {
  const short = await startServer({ config: { server: { reconnect_grace_seconds: 2 } } });
  const phone = await startBaresip({ toneHz: 880, user: 'late' });
  const tab = await browser.newPage();
  deadUrl = `wss://127.0.0.1:${await freePort()}/ws`; // nothing listens there
  try {
    await tab.goto(`${short.httpsUrl}/?rawaudio=1`);
    await tab.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
    await tab.getByLabel('Number or SIP address').fill(phone.uri);
    await tab.getByRole('button', { name: 'Call', exact: true }).click();
    await tab.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    // The link dies and stays dead (every reconnect fails) for longer than the grace period.
    await tab.evaluate((dead) => {
      const s = window.tabphone.signaling;
      s.realUrl = s.url;
      s.url = dead;
      s.ws.close(4000, 'test: link lost');
    }, deadUrl);
    await phone.waitFor(/terminated|closed/, 6000);
    await short.waitForLog(/not resumed within 2 s: ending its 1 call\(s\)/);
    await tab.evaluate(() => {
      const s = window.tabphone.signaling;
      s.url = s.realUrl;
      s.reconnectNow();
    });
    await tab.locator('#call-result').filter({ hasText: /lost for too long|while the connection to the server was down/ })
      .waitFor({ timeout: 10000 });
    await tab.waitForFunction(() => window.tabphone.session.phase === 'ready' && !window.tabphone.calls.active, null, { timeout: 10000 });
    const h = JSON.parse((await fetchRaw(`${short.httpUrl}/healthz`)).body);
    assert.deepEqual([h.calls, h.sessions, h.detached_sessions], [0, 1, 0]);
  } finally {
    await tab.close();
    await phone.stop();
    await short.stop();
  }
});
