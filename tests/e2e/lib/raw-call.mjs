// raw-call: drives a call straight over the signaling protocol from inside a page (plain
// RTCPeerConnection + WebSocket, no dialer UI), so the server's call path is tested on its own:
// SIP, SDP translation, ICE, DTLS-SRTP and the RTP bridge. The dialer's UI tests are separate.
//
// The page must be served by the server under test (same origin: /ws checks Origin).
import { before, after } from 'node:test';
import { assertInsideTestNamespace, launchBrowser } from './browser.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Is frequency f within tolerance of hz? (An FFT bin at 48 kHz / 8192 is ~5.9 Hz wide.) */
export const near = (f, hz, tolerance = 15) => Math.abs(f - hz) <= tolerance;

/**
 * One headless Chromium for a whole test file (fake mic: a 440 Hz tone), started in before()
 * and closed in after(). openTab(srv) opens a page on the server's origin and connects /ws.
 */
export function sharedBrowser({ toneHz = 440 } = {}) {
  const shared = {};
  before(async () => {
    assertInsideTestNamespace();
    shared.browser = await launchBrowser({ toneHz });
  });
  after(async () => { await shared.browser?.close(); });
  shared.openTab = async (srv) => {
    const page = await shared.browser.newPage();
    await page.goto(`${srv.httpsUrl}/favicon.svg`); // any page of the server's origin
    await connect(page, srv.wsUrl);
    return page;
  };
  return shared;
}

/** Opens /ws in the page and waits for welcome. Installs window.rc helpers. */
export async function connect(page, wsUrl) {
  await page.evaluate(async (url) => {
    const rc = { queue: [], waiters: [], log: [] };
    window.rc = rc;
    rc.ws = new WebSocket(url);
    rc.ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      rc.log.push(`${m.type}${m.code !== undefined ? ' ' + m.code : ''}${m.reason ? ' ' + m.reason : ''}`);
      if (m.type === 'candidate') {
        if (rc.remoteSet) { if (m.candidate) rc.pc.addIceCandidate(m.candidate).catch(() => {}); } else rc.pending.push(m.candidate);
        return;
      }
      rc.queue.push(m);
      rc.waiters = rc.waiters.filter((w) => !w());
    };
    rc.next = (type, ms = 15000) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms; saw ${rc.log.join(', ')}`)), ms);
      const check = () => {
        const i = rc.queue.findIndex((m) => m.type === type);
        if (i < 0) return false;
        clearTimeout(t);
        resolve(rc.queue.splice(i, 1)[0]);
        return true;
      };
      if (!check()) rc.waiters.push(check);
    });
    rc.send = (m) => rc.ws.send(JSON.stringify(m));
    rc.newPeer = async (callId) => {
      rc.callId = callId;
      rc.pending = [];
      rc.remoteSet = false;
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
      rc.pc = new RTCPeerConnection();
      stream.getTracks().forEach((t) => rc.pc.addTrack(t, stream));
      rc.remote = new MediaStream();
      rc.pc.ontrack = (e) => rc.remote.addTrack(e.track);
      rc.pc.onicecandidate = (e) => rc.send({ type: 'candidate', call_id: rc.callId,
        candidate: e.candidate ? e.candidate.toJSON() : null });
      // Remote audio reaches WebAudio only while it also plays in a media element.
      rc.audio = new Audio();
      rc.audio.srcObject = rc.remote;
      rc.audio.play().catch(() => {});
    };
    rc.setRemote = async (desc) => {
      await rc.pc.setRemoteDescription(desc);
      rc.remoteSet = true;
      for (const c of rc.pending) if (c) await rc.pc.addIceCandidate(c).catch(() => {});
      rc.pending = [];
    };
    await new Promise((resolve, reject) => { rc.ws.onopen = resolve; rc.ws.onerror = reject; });
    await rc.next('welcome');
  }, wsUrl);
}

/** Places a call to `to` and waits for `answered`; returns that message. */
export function call(page, to, { callId = 'c1', fromAccount } = {}) {
  return page.evaluate(async ({ to, callId, fromAccount }) => {
    const rc = window.rc;
    await rc.newPeer(callId);
    const offer = await rc.pc.createOffer();
    await rc.pc.setLocalDescription(offer);
    rc.send({ type: 'call', call_id: callId, to, sdp: offer.sdp, ...(fromAccount ? { from_account: fromAccount } : {}) });
    const answered = await rc.next('answered', 20000);
    await rc.setRemote({ type: 'answer', sdp: answered.sdp });
    return answered;
  }, { to, callId, fromAccount });
}

/** Waits for `incoming`, answers it with real media; returns the incoming message. */
export function acceptIncoming(page) {
  return page.evaluate(async () => {
    const rc = window.rc;
    const incoming = await rc.next('incoming', 20000);
    await rc.newPeer(incoming.call_id);
    await rc.setRemote({ type: 'offer', sdp: incoming.sdp });
    const answer = await rc.pc.createAnswer();
    await rc.pc.setLocalDescription(answer);
    rc.send({ type: 'accept', call_id: incoming.call_id, sdp: answer.sdp });
    await rc.next('answered', 10000);
    return incoming;
  });
}

/** Measures the remote audio for ms: { frequency, level (dB), packetsReceived, packetsSent }. */
export function measure(page, ms = 1500) {
  return page.evaluate(async (ms) => {
    const rc = window.rc;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(rc.remote).connect(analyser);
    await new Promise((r) => setTimeout(r, ms));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    const stats = await rc.pc.getStats();
    let packetsReceived = 0, packetsSent = 0;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') packetsReceived = s.packetsReceived;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') packetsSent = s.packetsSent;
    });
    await ctx.close();
    return { frequency: (best * ctx.sampleRate) / analyser.fftSize, level: bins[best], packetsReceived, packetsSent };
  }, ms);
}

/** Hangs up from the tab. */
export function hangup(page) {
  return page.evaluate(() => {
    window.rc.send({ type: 'hangup', call_id: window.rc.callId });
    window.rc.pc.close();
  });
}

/** Waits for the server's hangup of the current call; returns it. */
export function nextHangup(page, ms = 15000) {
  return page.evaluate((ms) => window.rc.next('hangup', ms), ms);
}

/** Sends a signaling message from the page (call_id defaults to the current call's). */
export function send(page, msg) {
  return page.evaluate((m) => window.rc.send({ call_id: window.rc.callId, ...m }), msg);
}

/** Waits for `call_state` with state `state` (skipping other call_states); returns it. */
export function nextCallState(page, state, ms = 15000) {
  return page.evaluate(async ({ state, ms }) => {
    const end = Date.now() + ms;
    for (;;) {
      const m = await window.rc.next('call_state', Math.max(1, end - Date.now()));
      if (m.state === state) return m;
    }
  }, { state, ms });
}
