// ICE restart (issue 5 "Faults": "ICE restart if the browser's address changed"): headless
// Chromium <-> tabphone <-> baresip with a tone each way. The dialer restarts ICE (`reoffer`
// with new ice-ufrag/pwd, same DTLS fingerprint); the server restarts its libnice stream with
// new credentials (`reanswer`), both sides trickle candidates again, ICE selects a pair of the
// new generation, and the audio goes on both ways over the same DTLS-SRTP association (no new
// handshake, no re-INVITE to the phone). Also: reoffers the server refuses (same credentials,
// another fingerprint) leave the call alone, and a resume after a dropped WebSocket restarts
// ICE on its own (an accepted incoming call: our offer becomes the base of the reanswer), as it
// does when ICE stays disconnected for 3 s.
// Runs inside the loopback-only namespace of tests/e2e/run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fetchRaw } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP } from './lib/browser.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const near = (f, want, tol = 15) => Math.abs(f - want) <= tol;

let srv;
let browser;
let page;

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
  await page.goto(`${srv.httpsUrl}/?rawaudio=1`);
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  assert.deepEqual(browser?.errors ?? [], [], 'the page logged errors');
});

const health = async () => JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body);

async function hears880(what) {
  const m = await page.evaluate(() => window.tabphone.measureRemoteTone(1000));
  assert.ok(near(m.frequency, 880), `${what}: the tab heard ${m.frequency} Hz, expected 880 Hz`);
  assert.ok(m.level > -60, `${what}: the tone level ${m.level} dB is silence`);
}

// Both ufrags of the current descriptions, and the remote ufrag of ICE's selected pair.
function iceView() {
  return page.evaluate(async () => {
    const pc = window.tabphone.calls.current.pc;
    const ufrag = (sdp) => (/a=ice-ufrag:(\S+)/.exec(sdp) || [])[1];
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
    const remote = pair ? stats.get(pair.remoteCandidateId) : null;
    return {
      local: ufrag(pc.localDescription.sdp), remote: ufrag(pc.remoteDescription.sdp),
      ice: pc.iceConnectionState, pairUfrag: remote ? remote.usernameFragment : null,
      pairState: pair ? pair.state : null,
    };
  });
}

// Sends a raw message on the dialer's link and resolves with the error answering it.
function rawRequest(msg) {
  return page.evaluate((m) => new Promise((resolve) => {
    const sig = window.tabphone.signaling;
    const on = (ev) => {
      if (ev.detail.id !== m.id) return;
      sig.removeEventListener('msg:error', on);
      sig.removeEventListener('msg:reanswer', on);
      resolve(ev.detail);
    };
    sig.addEventListener('msg:error', on);
    sig.addEventListener('msg:reanswer', on);
    sig.send(m);
  }), msg);
}

test('the dialer restarts ICE mid-call: new credentials, a new pair, the tone goes on both ways', async () => {
  const far = await startBaresip({ toneHz: 880 });
  try {
    await page.getByLabel('Number or SIP address').fill(far.uri);
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
    const t0 = Date.now();
    await sleep(1000);
    await hears880('before the restart');
    const before = await iceView();
    assert.ok(before.local && before.remote, JSON.stringify(before));

    // Reoffers the server refuses: the call is not touched.
    const callId = await page.evaluate(() => window.tabphone.calls.current.id);
    const current = await page.evaluate(() => window.tabphone.calls.current.pc.localDescription.sdp);
    const same = await rawRequest({ type: 'reoffer', id: 'z1', call_id: callId, sdp: current });
    assert.deepEqual([same.type, same.code], ['error', 'bad_reoffer']);
    assert.match(same.message, /new ice-ufrag/);
    const other = current.replace(/a=ice-ufrag:\S+/, 'a=ice-ufrag:zzzz')
      .replace(/a=ice-pwd:\S+/, 'a=ice-pwd:zzzzzzzzzzzzzzzzzzzzzzzz')
      .replace(/(a=fingerprint:sha-256 )([0-9A-F]{2})/, (_, a, b) => a + (b === '00' ? '01' : '00'));
    const fp = await rawRequest({ type: 'reoffer', id: 'z2', call_id: callId, sdp: other });
    assert.deepEqual([fp.type, fp.code], ['error', 'bad_reoffer']);
    assert.match(fp.message, /fingerprint/);

    const restartAt = (Date.now() - t0) / 1000;
    const logFrom = srv.logs().length;
    assert.equal(await page.evaluate(() => window.tabphone.calls.restartIce()), true);
    await page.waitForFunction(() => window.tabphone.calls.current.iceRestarts === 1, null, { timeout: 5000 });
    await srv.waitForLog(/ICE restart by the tab: new credentials/);
    let after = await iceView();
    for (let i = 0; i < 50 && !(after.pairUfrag === after.remote && ['connected', 'completed'].includes(after.ice)); i++) {
      await sleep(100);
      after = await iceView();
    }
    console.log(`# ICE restart: tab ufrag ${before.local} -> ${after.local}, server ufrag ${before.remote} -> ${after.remote}, `
      + `selected pair's remote ufrag ${after.pairUfrag} (${after.pairState}), ICE ${after.ice}`);
    assert.notEqual(after.local, before.local, 'the tab kept its ufrag');
    assert.notEqual(after.remote, before.remote, 'the server kept its ufrag');
    assert.ok(['connected', 'completed'].includes(after.ice), `ICE is ${after.ice} after the restart`);
    assert.equal(after.pairUfrag, after.remote, 'the selected pair is not of the new generation');
    assert.equal(await page.evaluate(() => window.tabphone.calls.current.mediaState), 'connected');

    await sleep(500);
    await hears880('after the restart');
    await sleep(1500);
    // Seen twice in ~20 loaded runs: the call was gone here although the tone had just been
    // heard. Say why (the dialer's result line and the server's log since the restart) instead
    // of timing out on the button.
    if (!(await page.getByRole('button', { name: 'Hang up' }).isVisible())) {
      const result = await page.locator('#call-result').textContent().catch(() => '?');
      assert.fail(`the call ended after the ICE restart: "${result}"\n${srv.logs().slice(logFrom)}`);
    }
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
    await far.waitFor(/terminated|closed/);
    await sleep(300);
    const [afterRestart] = far.heardSegments([[restartAt + 0.8, 1.2]]);
    console.log(`# after the restart the phone heard ${afterRestart.frequency} Hz rms ${afterRestart.rms}`);
    assert.ok(near(afterRestart.frequency, 440, 20), `after the restart the phone heard ${afterRestart.frequency} Hz`);
    assert.ok(afterRestart.rms > 0.05, `after the restart the phone heard rms ${afterRestart.rms}`);
    // Same DTLS association and SIP dialog: no new handshake, no re-INVITE to the phone.
    const since = srv.logs().slice(logFrom);
    assert.doesNotMatch(since, /DTLS done|DTLS failed|re-INVITE/, `after the restart:\n${since}`);
    for (let i = 0; i < 40 && (await health()).calls !== 0; i++) await sleep(100);
    assert.equal((await health()).calls, 0);
  } finally {
    await far.stop();
  }
});

test('after a resume, and after 3 s of ICE disconnected, the dialer restarts ICE on its own (incoming call)', async () => {
  const caller = await startBaresip({ toneHz: 880, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  try {
    await page.locator('#incoming').waitFor({ timeout: 10000 });
    await page.getByRole('button', { name: 'Accept' }).click();
    await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
    const t0 = Date.now();
    const before = await iceView();
    await page.evaluate(() => window.tabphone.signaling.ws.close(4000, 'test: link lost'));
    await srv.waitForLog(/user local resumed session \w+ \(detached\): 1 call\(s\)/, 8000);
    await page.waitForFunction(() => window.tabphone.calls.current?.iceRestarts === 1, null, { timeout: 8000 });
    const restartAt = (Date.now() - t0) / 1000;
    const after = await iceView();
    assert.notEqual(after.remote, before.remote, 'the server kept its ufrag');
    await sleep(1000);
    assert.equal(await page.evaluate(() => window.tabphone.calls.current.mediaState), 'connected');
    await hears880('incoming call after the resume and ICE restart');

    // ICE reported disconnected for longer than the dialer's 3 s patience: it restarts ICE by
    // itself. (The state is faked on the page's RTCPeerConnection; the restart is real.)
    await page.evaluate(() => {
      const pc = window.tabphone.calls.current.pc;
      Object.defineProperty(pc, 'iceConnectionState', { configurable: true, get: () => 'disconnected' });
      pc.dispatchEvent(new Event('iceconnectionstatechange'));
    });
    await page.waitForFunction(() => window.tabphone.calls.current?.iceRestarts === 2, null, { timeout: 6000 });
    await page.evaluate(() => {
      const pc = window.tabphone.calls.current.pc;
      delete pc.iceConnectionState;
      pc.dispatchEvent(new Event('iceconnectionstatechange'));
    });
    await sleep(500);
    await hears880('incoming call after the second ICE restart');
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
    await caller.waitFor(/terminated|closed/);
    await sleep(300);
    const [afterRestart] = caller.heardSegments([[restartAt + 0.7, 1.2]]);
    assert.ok(near(afterRestart.frequency, 440, 20), `after the restart the caller heard ${afterRestart.frequency} Hz`);
    assert.ok(afterRestart.rms > 0.05, `after the restart the caller heard rms ${afterRestart.rms}`);
  } finally {
    await caller.stop();
  }
});
