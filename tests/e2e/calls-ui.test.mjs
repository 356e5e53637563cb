// Browser tests of the dialer's calling UI (web/js/calls.js, ui/dialer.js, ui/call-panel.js)
// against fake-server.mjs, which plays the server's side of each call message by message.
// The fake has no media, so ICE never completes: these tests check the UI states and the
// messages the page sends; tests/e2e/echo-call.test.mjs checks real audio against the real
// server.
//
// Runs inside the loopback-only network namespace of tests/e2e/run.sh or scripts/test
// (assertInsideTestNamespace refuses anything else). Screenshots: tests/e2e/screenshots/calls-*.

import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeServer, fakeAnswerSdp, fakeOfferSdp, FAKE_CANDIDATE } from './fake-server.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP, PHONE } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const webRoot = path.resolve(here, '../../web');
// The committed screenshots change only on request (UPDATE_SCREENSHOTS=1); a normal run writes
// its own to tests/out/screenshots so the tree stays clean.
const shotDir = process.env.UPDATE_SCREENSHOTS ? path.join(here, 'screenshots') : path.join(here, '..', 'out', 'screenshots');

const ENCRYPTION = { browser: 'DTLS-SRTP SRTP_AES128_CM_SHA1_80', sip: 'none (RTP)' };

let browser;
let page;
let errorsBefore;

before(async () => {
  assertInsideTestNamespace();
  fs.mkdirSync(shotDir, { recursive: true });
  browser = await launchBrowser({ toneHz: 440 });
});

after(async () => {
  await browser?.close();
});

beforeEach(async () => {
  errorsBefore = browser.errors.length;
  page = await browser.newPage();
  await page.setViewportSize(DESKTOP);
});

afterEach(async () => {
  await page.close();
  assert.deepEqual(browser.errors.slice(errorsBefore), [], 'the page logged errors');
});

async function shoot(name) {
  // From the top: a page scrolled to a focused button would draw the sticky header mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(shotDir, `calls-${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(shotDir, `calls-${name}-desktop.png`), fullPage: true });
}

// Open mode: no login, the phone is up as soon as the welcome arrives.
async function openPhone(options = {}) {
  const server = await startFakeServer({ webRoot, openMode: true, ...options });
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
  return server;
}

const callState = () => page.locator('#call-state');
const result = () => page.locator('#call-result');
const evalCall = (fn) => page.evaluate(fn);

// Dials from the field and returns the `call` message the page sent.
async function dial(server, text, from = null) {
  if (from) await page.getByLabel('Call from').selectOption({ label: from });
  await page.getByLabel('Number or SIP address').fill(text);
  const earlier = new Set(server.received.filter(({ msg }) => msg.type === 'call').map(({ msg }) => msg.call_id));
  await page.getByLabel('Number or SIP address').press('Enter');
  return server.waitFor((m) => m.type === 'call' && !earlier.has(m.call_id), { what: 'a call' });
}

test('an outgoing call goes calling -> ringing -> connected, with keypad, mute and hang up', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  // First run: the test call is offered prominently.
  assert.equal(await page.locator('#first-run').isVisible(), true);
  assert.equal(await page.getByRole('button', { name: 'Test call' }).isVisible(), true);
  await shoot('dialer');

  const call = await dial(server, 'bob@example.test', 'Office line');
  assert.equal(call.to, 'sip:bob@example.test');
  assert.equal(call.from_account, 'office');
  assert.match(call.call_id, /^[A-Za-z0-9._-]{1,64}$/);
  assert.match(call.sdp, /^v=0\r\n/);
  // The offer went out without waiting for ICE: candidates follow as their own messages.
  const cand = await server.waitFor((m) => m.type === 'candidate' && m.call_id === call.call_id && m.candidate,
    { what: 'a candidate' });
  assert.match(cand.candidate.candidate, /^candidate:/);
  assert.equal(typeof cand.candidate.sdpMLineIndex, 'number');
  await server.waitFor((m) => m.type === 'candidate' && m.call_id === call.call_id && m.candidate === null,
    { what: 'the end-of-candidates null' });
  const types = server.received.map(({ msg }) => msg.type);
  assert.ok(types.indexOf('call') < types.indexOf('candidate'), 'a candidate overtook the offer');

  await callState().filter({ hasText: 'Calling…' }).waitFor();
  assert.equal(await page.locator('#call-peer').textContent(), 'bob@example.test');
  server.push({ type: 'progress', call_id: call.call_id, code: 100, reason: 'Trying' });
  server.push({ type: 'progress', call_id: call.call_id, code: 180, reason: 'Ringing' });
  await callState().filter({ hasText: 'Ringing…' }).waitFor();
  assert.equal(await evalCall(() => window.tabphone.tones.playing), 'ringback');
  assert.equal(await page.getByRole('button', { name: 'Cancel call' }).isVisible(), true);

  // The server's candidates may come before its answer: the page must hold them back.
  server.push({ type: 'candidate', call_id: call.call_id, candidate: FAKE_CANDIDATE });
  server.push({ type: 'candidate', call_id: call.call_id, candidate: null });
  server.push({
    type: 'answered', call_id: call.call_id, sdp: fakeAnswerSdp(call.sdp), codec: 'opus/48000/2', encryption: ENCRYPTION,
  });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  const badge = page.locator('#call-badge');
  assert.equal(await badge.isVisible(), true);
  const badgeText = await badge.textContent();
  for (const part of ['opus/48000/2', 'DTLS-SRTP SRTP_AES128_CM_SHA1_80', 'none (RTP)']) assert.ok(badgeText.includes(part), badgeText);
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);
  await page.waitForFunction(() => {
    const pc = window.tabphone.calls.pc;
    return pc && pc.signalingState === 'stable' && pc.remoteDescription?.sdp.includes('127.0.0.1 40000');
  });
  assert.match(await page.locator('#call-timer').textContent(), /^00:0\d$/);
  await page.waitForTimeout(1100); // let the timer tick once for the screenshot
  await shoot('in-call');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot('in-call-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Keypad by click and by keyboard (focus sits on Hang up, not in a text field).
  await page.getByRole('button', { name: '1', exact: true }).click();
  await page.getByRole('button', { name: '2', exact: true }).click();
  await page.keyboard.press('#');
  await page.locator('#dtmf-sent').filter({ hasText: 'Sent: 12#' }).waitFor();
  const dtmf = server.received.filter(({ msg }) => msg.type === 'dtmf').map(({ msg }) => [msg.call_id, msg.digits]);
  assert.deepEqual(dtmf, [[call.call_id, '1'], [call.call_id, '2'], [call.call_id, '#']]);

  await page.getByRole('button', { name: 'Mute' }).click();
  assert.equal(await page.locator('#call-mute').getAttribute('aria-pressed'), 'true');
  assert.equal(await evalCall(() => window.tabphone.calls.current.localStream.getAudioTracks()[0].enabled), false);
  await page.getByRole('button', { name: 'Unmute' }).click();
  assert.equal(await evalCall(() => window.tabphone.calls.current.localStream.getAudioTracks()[0].enabled), true);

  await page.getByRole('button', { name: 'Hang up' }).click();
  const hangup = await server.waitFor((m) => m.type === 'hangup', { what: 'a hangup' });
  assert.equal(hangup.call_id, call.call_id);
  await result().filter({ hasText: 'You hung up.' }).waitFor();
  assert.equal(await page.locator('#in-call').isVisible(), false);
  assert.equal(await evalCall(() => window.tabphone.calls.pc), null);
  assert.equal(await page.getByLabel('Number or SIP address').isEnabled(), true);
});

test('busy and no-common-codec hang-ups are explained in words', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());

  const call = await dial(server, '+1 (555) 010-0100');
  assert.equal(call.to, '+15550100100');
  assert.equal(call.from_account, undefined, 'Automatic must not send from_account');
  server.push({ type: 'progress', call_id: call.call_id, code: 180, reason: 'Ringing' });
  await callState().filter({ hasText: 'Ringing…' }).waitFor();
  server.push({ type: 'hangup', call_id: call.call_id, code: 486, reason: 'Busy Here' });
  await result().filter({ hasText: 'The line is busy. (486 Busy Here)' }).waitFor();
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);
  await shoot('busy');

  // A reason the server wrote for people is shown as it is.
  const reason = 'no common codec (browser: opus, PCMU; far end: G729)';
  const second = await dial(server, 'tel:+15550100101');
  assert.equal(second.to, 'tel:+15550100101');
  server.push({ type: 'hangup', call_id: second.call_id, code: 488, reason });
  await result().filter({ hasText: reason }).waitFor();

  // 480: no answer.
  const third = await dial(server, 'sip:carol@example.test');
  server.push({ type: 'hangup', call_id: third.call_id, code: 480, reason: 'Temporarily Unavailable' });
  await result().filter({ hasText: 'No answer. (480 Temporarily Unavailable)' }).waitFor();
});

test('early media: the 183 SDP is applied as a provisional answer, answered makes it final', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const call = await dial(server, 'sip:ivr@example.test');
  const answer = fakeAnswerSdp(call.sdp);
  server.push({ type: 'progress', call_id: call.call_id, code: 183, reason: 'Session Progress', sdp: answer });
  await callState().filter({ hasText: 'Early media' }).waitFor();
  await page.waitForFunction(() => window.tabphone.calls.pc?.signalingState === 'have-remote-pranswer');
  server.push({ type: 'answered', call_id: call.call_id, sdp: answer, codec: { browser: 'pcmu', sip: 'pcmu', transcoding: false }, encryption: { browser: 'dtls-srtp', sip: 'none' } });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  await page.waitForFunction(() => window.tabphone.calls.pc?.signalingState === 'stable');
  assert.match(await page.locator('#call-badge').textContent(), /pcmu.*dtls-srtp.*none/s);
  server.push({ type: 'hangup', call_id: call.call_id, code: 200, reason: 'OK' });
  await result().filter({ hasText: 'The other side hung up.' }).waitFor();
});

test('an incoming call rings; Accept sends an SDP answer and candidates', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  // A candidate ahead of the call it belongs to is harmless; one right after `incoming`,
  // before the user accepts, has to wait for the offer to be applied.
  server.push({
    type: 'incoming', call_id: 'in-1', from: 'sip:bob@example.test', display: 'Bob Example', to: 'sip:1001@pbx.example.test',
    account: 'office', sdp: fakeOfferSdp(),
  });
  server.push({ type: 'candidate', call_id: 'in-1', candidate: FAKE_CANDIDATE });
  const incoming = page.locator('#incoming');
  await incoming.waitFor();
  assert.equal(await page.locator('#incoming-peer').textContent(), 'Bob Example');
  assert.equal(await page.locator('#incoming-uri').textContent(), 'bob@example.test');
  assert.equal(await page.locator('#incoming-account').textContent(), 'To Office line');
  assert.equal(await evalCall(() => window.tabphone.tones.playing), 'ring');
  assert.equal(await evalCall(() => document.activeElement?.id), 'incoming-accept');
  assert.match(await page.title(), /^Incoming call/);
  await shoot('incoming');

  await page.getByRole('button', { name: 'Accept' }).click();
  const accept = await server.waitFor((m) => m.type === 'accept', { what: 'an accept' });
  assert.equal(accept.call_id, 'in-1');
  assert.match(accept.sdp, /^v=0\r\n/);
  assert.match(accept.sdp, /a=setup:(active|passive)/);
  await callState().filter({ hasText: 'Connected' }).waitFor();
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);
  await server.waitFor((m) => m.type === 'candidate' && m.call_id === 'in-1' && m.candidate, { what: 'a candidate' });
  const types = server.received.map(({ msg }) => msg.type);
  assert.ok(types.indexOf('accept') < types.indexOf('candidate'), 'a candidate overtook the answer');
  await page.waitForFunction(() => window.tabphone.calls.pc?.remoteDescription?.sdp.includes('127.0.0.1 40000'));
  assert.equal(await page.locator('#call-peer').textContent(), 'Bob Example');

  server.push({ type: 'hangup', call_id: 'in-1', code: 200, reason: 'OK' });
  await result().filter({ hasText: 'The other side hung up.' }).waitFor();
});

test('a call ringing while the tab is hidden shows a desktop notification, closed when it stops', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  // Headless Chromium has no notification centre: record what the page asks for instead, and
  // pretend another tab is in front.
  await page.evaluate(() => {
    window.shownNotifications = [];
    class RecordingNotification {
      static permission = 'granted';
      static requestPermission() { return Promise.resolve('granted'); }
      constructor(title, options) { this.title = title; this.options = options; this.closed = false; window.shownNotifications.push(this); }
      close() { this.closed = true; }
    }
    window.Notification = RecordingNotification;
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
  });
  server.push({ type: 'incoming', call_id: 'in-n', from: 'sip:erin@example.test', display: 'Erin', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.locator('#incoming').waitFor();
  const shown = await page.evaluate(() => window.shownNotifications.map((n) => ({ title: n.title, body: n.options.body })));
  assert.deepEqual(shown, [{ title: 'Incoming call', body: 'Erin' }]);
  server.push({ type: 'hangup', call_id: 'in-n', code: 487, reason: 'cancelled by caller' });
  await page.waitForFunction(() => window.shownNotifications[0].closed);
});

test('Reject answers 486; a call the caller cancels stops ringing', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  server.push({ type: 'incoming', call_id: 'in-2', from: 'sip:spam@example.test', display: '', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.locator('#incoming').waitFor();
  assert.equal(await page.locator('#incoming-peer').textContent(), 'spam@example.test');
  await page.getByRole('button', { name: 'Reject' }).click();
  const reject = await server.waitFor((m) => m.type === 'reject', { what: 'a reject' });
  assert.deepEqual({ call_id: reject.call_id, code: reject.code }, { call_id: 'in-2', code: 486 });
  await result().filter({ hasText: 'You declined the call.' }).waitFor();
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);

  server.push({ type: 'incoming', call_id: 'in-3', from: 'sip:dave@example.test', display: 'Dave', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.locator('#incoming').waitFor();
  assert.equal(await evalCall(() => window.tabphone.tones.playing), 'ring');
  server.push({ type: 'hangup', call_id: 'in-3', code: 487, reason: 'Request Terminated' });
  await result().filter({ hasText: 'Missed call from Dave.' }).waitFor();
  assert.equal(await page.locator('#incoming').isVisible(), false);
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);
  assert.ok(!server.received.some(({ msg }) => msg.call_id === 'in-3'), 'the page answered a cancelled call');
});

test('a forwarded call shows who forwarded it; a trusted asserted identity is the caller shown', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  server.push({ type: 'incoming', call_id: 'in-f', from: 'sip:anonymous@example.test', display: 'Anonymous',
    to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp(),
    asserted_identity: 'sip:+4989777@carrier.example.test', asserted_display: 'Real Caller',
    diverted_from: 'sip:+4930555@pbx.example.test', diversion_reason: 'user-busy',
    history: ['sip:+4930111@pbx.example.test', 'sip:+4930555@pbx.example.test', 'sip:1001@pbx.example.test'] });
  await page.locator('#incoming').waitFor();
  assert.equal(await page.locator('#incoming-peer').textContent(), 'Real Caller');
  assert.equal(await page.locator('#incoming-uri').textContent(), '+4989777@carrier.example.test');
  assert.equal(await page.locator('#incoming-account').textContent(),
    'To Office line \u00b7 forwarded from +4930555@pbx.example.test');
  await shoot('incoming-forwarded');
  server.push({ type: 'hangup', call_id: 'in-f', code: 487, reason: 'Request Terminated' });
  await page.locator('#incoming').waitFor({ state: 'hidden' });

  // History-Info alone: the entry before ours forwarded it.
  server.push({ type: 'incoming', call_id: 'in-h', from: 'sip:eve@example.test', display: 'Eve',
    to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp(),
    history: ['sip:2002@pbx.example.test', 'sip:1001@pbx.example.test'] });
  await page.locator('#incoming').waitFor();
  assert.equal(await page.locator('#incoming-peer').textContent(), 'Eve');
  assert.equal(await page.locator('#incoming-account').textContent(),
    'To Office line \u00b7 forwarded from 2002@pbx.example.test');
  server.push({ type: 'hangup', call_id: 'in-h', code: 487, reason: 'Request Terminated' });
});

test('the test call dials echo; a server without calls ends it with its message', async (t) => {
  const server = await openPhone({ callsImplemented: false });
  t.after(() => server.close());

  // Something that is neither a number nor an address is refused before anything is sent.
  await page.getByLabel('Number or SIP address').fill('not a number');
  await page.getByRole('button', { name: 'Call', exact: true }).click();
  await page.locator('#dial-error').filter({ hasText: 'not a number or SIP address' }).waitFor();
  assert.equal(await page.getByLabel('Number or SIP address').getAttribute('aria-invalid'), 'true');

  await page.getByRole('button', { name: 'Test call' }).click();
  const call = await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  assert.equal(call.to, 'echo');
  assert.equal(call.from_account, undefined);
  await result().filter({ hasText: 'Calls are not implemented in this build.' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Test call' }).isEnabled(), true);
  assert.equal(await page.locator('#first-run').isVisible(), true, 'a failed test call is no reason to hide the hint');
});

// The fake server has no media, but a second Chromium can be the far end: it answers the
// page's offer with its own fake microphone playing 1 kHz, and the fake server relays SDP and
// candidates between the two. Audio then really flows (DTLS-SRTP between the two browsers),
// which checks the page's side of the media path without tabphone's: trickled candidates both
// ways (the far end's sent before the answer), the remote track in the <audio> element, and
// the tone meters of the test hooks.
test('media flows: a second browser as the far end plays 1 kHz, the page hears it', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const farBrowser = await launchBrowser({ toneHz: 1000 });
  t.after(() => farBrowser.close());
  const far = await farBrowser.newPage();
  await far.goto(`${server.url}__blank`);

  const call = await dial(server, 'sip:tone@example.test');
  const answer = await far.evaluate(async (offer) => {
    const pc = new RTCPeerConnection();
    window.farPc = pc;
    window.farCandidates = [];
    const gathered = new Promise((resolve) => {
      pc.onicecandidate = (ev) => (ev.candidate ? window.farCandidates.push(ev.candidate.toJSON()) : resolve());
    });
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    for (const track of mic.getTracks()) pc.addTrack(track, mic);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered;
    return pc.localDescription.sdp.replace(/a=candidate:.*\r\n/g, ''); // candidates go separately
  }, call.sdp);
  const farCandidates = await far.evaluate(() => window.farCandidates);
  assert.ok(farCandidates.length > 0, 'the far end gathered no candidate');

  server.push({ type: 'progress', call_id: call.call_id, code: 180, reason: 'Ringing' });
  for (const candidate of farCandidates) server.push({ type: 'candidate', call_id: call.call_id, candidate });
  server.push({ type: 'candidate', call_id: call.call_id, candidate: null });
  server.push({ type: 'answered', call_id: call.call_id, sdp: answer, codec: 'opus/48000/2', encryption: ENCRYPTION });
  // The page's candidates (sent as `candidate` messages) go to the far end.
  await server.waitFor((m) => m.type === 'candidate' && m.call_id === call.call_id && m.candidate === null, { what: 'end of candidates' });
  const pageCandidates = server.received.filter(({ msg }) => msg.type === 'candidate' && msg.call_id === call.call_id && msg.candidate)
    .map(({ msg }) => msg.candidate);
  await far.evaluate(async (list) => {
    for (const c of list) await window.farPc.addIceCandidate(c);
  }, pageCandidates);

  await page.waitForFunction(() => window.tabphone.calls.pc?.connectionState === 'connected', null, { timeout: 15_000 });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  const remote = await page.evaluate(() => window.tabphone.measureRemoteTone(1500));
  assert.ok(Math.abs(remote.frequency - 1000) <= 15, `heard ${remote.frequency} Hz, not 1000 Hz`);
  assert.ok(remote.level > -60, `the far end's tone arrives at ${remote.level} dB`);
  const local = await page.evaluate(() => window.tabphone.measureLocalTone(1000));
  assert.ok(Math.abs(local.frequency - 440) <= 15, `the microphone plays ${local.frequency} Hz, not 440 Hz`);
  // The far end hears the page's 440 Hz too (both directions work).
  const farHears = await far.evaluate(async () => {
    const stream = new MediaStream(window.farPc.getReceivers().map((r) => r.track));
    // Remote WebRTC audio reaches WebAudio only while a media element plays it too.
    const audio = document.createElement('audio');
    audio.srcObject = stream;
    document.body.append(audio);
    await audio.play();
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(stream).connect(analyser);
    await new Promise((r) => setTimeout(r, 800));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let peak = 10;
    for (let i = 11; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
    ctx.close();
    return (peak * ctx.sampleRate) / analyser.fftSize;
  });
  assert.ok(Math.abs(farHears - 440) <= 15, `the far end hears ${farHears} Hz, not 440 Hz`);
  const received = await page.evaluate(async () => {
    let packets = 0;
    (await window.tabphone.calls.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') packets = s.packetsReceived;
    });
    return packets;
  });
  assert.ok(received > 50, `only ${received} packets arrived`);
  assert.equal(await page.locator('#remote-audio').evaluate((a) => a.srcObject !== null && !a.muted), true);

  await page.getByRole('button', { name: 'Hang up' }).click();
  await result().filter({ hasText: 'You hung up.' }).waitFor();
  assert.deepEqual(farBrowser.errors, []);
});

// --- hold / resume, transfer, call waiting (the server's side played with push()) ---------

// Dials `to` and answers it from the fake server; resolves with the page's `call` message.
async function connectedCall(server, to) {
  const call = await dial(server, to);
  server.push({ type: 'answered', call_id: call.call_id, sdp: fakeAnswerSdp(call.sdp), codec: 'PCMU/8000', encryption: ENCRYPTION });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  return call;
}

const sentAfter = (server, index, pred) => server.received.slice(index).map(({ msg }) => msg).filter(pred);

test('hold and resume follow call_state; the far end holding us is shown too', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const call = await connectedCall(server, 'sip:bob@example.test');
  const hold = page.getByRole('button', { name: 'Hold', exact: true });
  assert.equal(await hold.getAttribute('aria-pressed'), 'false');

  await hold.click();
  const req = await server.waitFor((m) => m.type === 'hold', { what: 'a hold' });
  assert.equal(req.call_id, call.call_id);
  // Until the server confirms, the button says it is working and cannot be pressed twice.
  await page.locator('#call-hold').filter({ hasText: 'Holding…' }).waitFor();
  assert.equal(await page.locator('#call-hold').isDisabled(), true);
  server.push({ type: 'call_state', id: req.id, call_id: call.call_id, state: 'held', local_hold: true, remote_hold: false });
  await callState().filter({ hasText: 'On hold' }).waitFor();
  const resume = page.getByRole('button', { name: 'Resume', exact: true });
  assert.equal(await resume.getAttribute('aria-pressed'), 'true');
  assert.equal(await page.getByRole('button', { name: '5', exact: true }).isDisabled(), true, 'no keypad tones to a held call');
  await page.waitForTimeout(1100);
  await shoot('on-hold');

  await resume.click();
  const res = await server.waitFor((m) => m.type === 'resume', { what: 'a resume' });
  server.push({ type: 'call_state', id: res.id, call_id: call.call_id, state: 'active', local_hold: false, remote_hold: false });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  assert.equal(await hold.getAttribute('aria-pressed'), 'false');

  // The far end puts us on hold (an event, no id), then takes us back.
  server.push({ type: 'call_state', call_id: call.call_id, state: 'remote_held', local_hold: false, remote_hold: true });
  await callState().filter({ hasText: 'Held by the other side' }).waitFor();
  await shoot('remote-held');
  server.push({ type: 'call_state', call_id: call.call_id, state: 'active', local_hold: false, remote_hold: false });
  await callState().filter({ hasText: 'Connected' }).waitFor();

  // A hold the far end refuses: the call stays connected and the panel says why.
  await hold.click();
  const again = await server.waitFor((m) => m.type === 'hold' && m.id !== req.id, { what: 'a second hold' });
  server.push({ type: 'call_state', id: again.id, call_id: call.call_id, state: 'active', local_hold: false, remote_hold: false, hold_failed: '488 Not Acceptable Here', code: 488 });
  await page.locator('#call-note').filter({ hasText: 'could not be put on hold: 488 Not Acceptable Here' }).waitFor();
  assert.equal(await callState().textContent(), 'Connected');
  assert.equal(await hold.isEnabled(), true);

  // An error answer (e.g. a server without hold) is a note as well.
  await hold.click();
  const third = await server.waitFor((m) => m.type === 'hold' && ![req.id, again.id].includes(m.id), { what: 'a third hold' });
  server.push({ type: 'error', id: third.id, call_id: call.call_id, code: 'not_implemented', message: 'hold is not implemented in this build' });
  await page.locator('#call-note').filter({ hasText: 'Hold is not implemented in this build.' }).waitFor();
  assert.equal(await hold.isEnabled(), true);
  await page.getByRole('button', { name: 'Hang up' }).click();
});

test('blind transfer: the typed target goes out as transfer {to}; "transferred" ends the call', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const call = await connectedCall(server, 'sip:bob@example.test');
  const transfer = page.getByRole('button', { name: 'Transfer', exact: true });
  await transfer.click();
  assert.equal(await transfer.getAttribute('aria-expanded'), 'true');
  assert.equal(await evalCall(() => document.activeElement?.id), 'transfer-to');
  assert.equal(await page.locator('#transfer-attended').isVisible(), false, 'no other call: blind only');
  // Nothing typed, or garbage: refused in words, nothing sent.
  await page.locator('#transfer-go').click();
  await page.locator('#transfer-error').filter({ hasText: 'Enter the number or SIP address' }).waitFor();
  await page.getByLabel('Transfer to').fill('carol@example.test');
  await shoot('transfer');
  await page.getByLabel('Transfer to').press('Enter');
  const req = await server.waitFor((m) => m.type === 'transfer', { what: 'a transfer' });
  assert.deepEqual([req.call_id, req.to, req.replaces], [call.call_id, 'sip:carol@example.test', undefined]);
  assert.equal(await page.locator('#transfer-form').isVisible(), false);
  server.push({ type: 'call_state', id: req.id, call_id: call.call_id, state: 'transferring', code: 0, reason: 'REFER sent', local_hold: false, remote_hold: false });
  await callState().filter({ hasText: 'Transferring…' }).waitFor();
  assert.equal(await page.locator('#call-hold').isDisabled(), true);
  server.push({ type: 'call_state', call_id: call.call_id, state: 'transferring', code: 200, reason: 'OK', local_hold: false, remote_hold: false });
  server.push({ type: 'hangup', call_id: call.call_id, code: 0, reason: 'transferred' });
  await result().filter({ hasText: 'The call was transferred.' }).waitFor();

  // A transfer that fails: the call goes on, the panel says why.
  const second = await connectedCall(server, 'sip:bob@example.test');
  await transfer.click();
  await page.getByLabel('Transfer to').fill('+1 555 0100');
  await page.locator('#transfer-go').click();
  const req2 = await server.waitFor((m) => m.type === 'transfer' && m.call_id === second.call_id, { what: 'a second transfer' });
  assert.equal(req2.to, '+15550100');
  server.push({ type: 'call_state', call_id: second.call_id, state: 'active', local_hold: false, remote_hold: false, transfer_failed: '603 Declined', code: 603 });
  await page.locator('#call-note').filter({ hasText: 'The call was not transferred: 603 Declined (603).' }).waitFor();
  assert.equal(await callState().textContent(), 'Connected');
  assert.equal(await transfer.isEnabled(), true);
  await page.getByRole('button', { name: 'Hang up' }).click();
});

test('call waiting: Accept holds the current call first; attended transfer joins the two calls', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const first = await connectedCall(server, 'sip:bob@example.test');

  server.push({ type: 'incoming', call_id: 'in-w', from: 'sip:carol@example.test', display: 'Carol', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  const banner = page.locator('#call-waiting');
  await banner.waitFor();
  assert.equal(await page.locator('#waiting-peer').textContent(), 'Carol');
  assert.equal(await page.locator('#waiting-hint').textContent(), 'Accepting puts bob@example.test on hold.');
  assert.equal(await evalCall(() => window.tabphone.tones.playing), 'waiting');
  assert.equal(await callState().textContent(), 'Connected', 'the first call stays on screen');
  assert.ok(!server.received.some(({ msg }) => msg.call_id === 'in-w'), 'the waiting call was answered or rejected by itself');
  await page.waitForTimeout(1100);
  await shoot('call-waiting');

  const mark = server.received.length;
  await banner.getByRole('button', { name: 'Accept' }).click();
  const hold = await server.waitFor((m) => m.type === 'hold', { what: 'a hold of the first call' });
  assert.equal(hold.call_id, first.call_id);
  await page.waitForTimeout(300);
  assert.deepEqual(sentAfter(server, mark, (m) => m.type === 'accept'), [], 'accepted before the first call was held');
  server.push({ type: 'call_state', id: hold.id, call_id: first.call_id, state: 'held', local_hold: true, remote_hold: false });
  const accept = await server.waitFor((m) => m.type === 'accept', { what: 'the accept of the waiting call' });
  assert.equal(accept.call_id, 'in-w');
  await page.locator('#call-peer').filter({ hasText: 'Carol' }).waitFor();
  await callState().filter({ hasText: 'Connected' }).waitFor();
  assert.equal(await banner.isVisible(), false);
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);
  const other = page.locator('#other-calls > li');
  await other.filter({ hasText: 'bob@example.test' }).filter({ hasText: 'On hold' }).waitFor();
  await page.waitForTimeout(1100);
  await shoot('two-calls');

  // Switch: Carol goes on hold, Bob is resumed and comes on screen; then back again.
  await page.getByRole('button', { name: 'Switch to bob@example.test' }).click();
  const holdCarol = await server.waitFor((m) => m.type === 'hold' && m.call_id === 'in-w', { what: 'a hold of Carol' });
  server.push({ type: 'call_state', id: holdCarol.id, call_id: 'in-w', state: 'held', local_hold: true, remote_hold: false });
  const resumeBob = await server.waitFor((m) => m.type === 'resume' && m.call_id === first.call_id, { what: 'a resume of Bob' });
  await page.locator('#call-peer').filter({ hasText: 'bob@example.test' }).waitFor();
  server.push({ type: 'call_state', id: resumeBob.id, call_id: first.call_id, state: 'active', local_hold: false, remote_hold: false });
  await callState().filter({ hasText: 'Connected' }).waitFor();
  await other.filter({ hasText: 'Carol' }).filter({ hasText: 'On hold' }).waitFor();

  // Attended transfer from Bob's call: connect Bob with Carol.
  await page.getByRole('button', { name: 'Transfer', exact: true }).click();
  await page.locator('#transfer-attended').waitFor();
  await page.getByRole('button', { name: 'Connect with Carol' }).click();
  const req = await server.waitFor((m) => m.type === 'transfer', { what: 'an attended transfer' });
  assert.deepEqual([req.call_id, req.replaces, req.to], [first.call_id, 'in-w', undefined]);
  server.push({ type: 'call_state', id: req.id, call_id: first.call_id, state: 'transferring', code: 0, reason: 'REFER sent', local_hold: false, remote_hold: false });
  await callState().filter({ hasText: 'Transferring…' }).waitFor();
  server.push({ type: 'hangup', call_id: 'in-w', code: 0, reason: 'transferred' });
  server.push({ type: 'hangup', call_id: first.call_id, code: 0, reason: 'transferred' });
  await result().filter({ hasText: 'The call was transferred.' }).waitFor();
  assert.equal(await page.locator('#in-call').isVisible(), false);
  assert.equal(await evalCall(() => window.tabphone.calls.calls.size), 0);
});

test('call waiting: Reject answers 486; a waiting call the caller gives up is a missed call; a third call is busy', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const first = await connectedCall(server, 'sip:bob@example.test');
  const offer = (id, user) => ({ type: 'incoming', call_id: id, from: `sip:${user}@example.test`, display: '', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });

  server.push(offer('in-a', 'dave'));
  await page.locator('#call-waiting').waitFor();
  // A third call while one waits is turned down as busy at once.
  server.push(offer('in-b', 'erin'));
  const busy = await server.waitFor((m) => m.type === 'reject' && m.call_id === 'in-b', { what: 'a 486 for the third call' });
  assert.equal(busy.code, 486);
  await page.locator('#call-waiting').getByRole('button', { name: 'Reject' }).click();
  const reject = await server.waitFor((m) => m.type === 'reject' && m.call_id === 'in-a', { what: 'a reject' });
  assert.equal(reject.code, 486);
  await page.locator('#call-waiting').waitFor({ state: 'hidden' });
  assert.equal(await callState().textContent(), 'Connected');
  assert.equal(await evalCall(() => window.tabphone.tones.playing), null);

  server.push(offer('in-c', 'frank'));
  await page.locator('#call-waiting').waitFor();
  server.push({ type: 'hangup', call_id: 'in-c', code: 487, reason: 'Request Terminated' });
  await page.locator('#call-waiting').waitFor({ state: 'hidden' });
  await page.locator('#history-badge').filter({ hasText: /\d/ }).waitFor();
  assert.ok(!server.received.some(({ msg }) => msg.call_id === 'in-c'), 'the page answered a call the caller gave up');

  // The first call ending while a call waits: the waiting call rings as an ordinary call.
  server.push(offer('in-d', 'gina'));
  await page.locator('#call-waiting').waitFor();
  server.push({ type: 'hangup', call_id: first.call_id, code: 200, reason: 'OK' });
  await page.locator('#incoming').waitFor();
  assert.equal(await page.locator('#incoming-peer').textContent(), 'gina@example.test');
  assert.equal(await evalCall(() => window.tabphone.tones.playing), 'ring');
  await page.getByRole('button', { name: 'Accept' }).click();
  const accept = await server.waitFor((m) => m.type === 'accept', { what: 'an accept' });
  assert.equal(accept.call_id, 'in-d');
  assert.deepEqual(sentAfter(server, 0, (m) => m.type === 'hold'), [], 'nothing to hold');
  await callState().filter({ hasText: 'Connected' }).waitFor();
  await page.getByRole('button', { name: 'Hang up' }).click();
  const kinds = await evalCall(() => window.tabphone.history.list().map((e) => `${e.kind}:${e.peerUri}`));
  assert.deepEqual(kinds.slice(0, 4), ['incoming:sip:gina@example.test', 'outgoing:sip:bob@example.test', 'missed:sip:frank@example.test', 'incoming:sip:dave@example.test']);
});
