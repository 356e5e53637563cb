// Early media, session timers and a mid-call codec switch seen from the tab: Chromium <->
// tabphone <-> sipp in the test network namespace.
//
// Early media (twice: a plain 183, and a reliable 183 we must PRACK): sipp answers 183 + SDP,
// and this test plays the far end's media as a provider plays ringback or an announcement
// (880 Hz, mu-law RTP from 127.0.0.1); the tab applies the `progress` SDP as a provisional
// answer and must hear the tone before the call is answered. After 4 s sipp answers 200 with
// a different SDP (another port): the far end's media now comes from that port (660 Hz, a new
// SSRC), the tab gets `answered` with the final SDP and must hear 660 Hz, and the tab's own
// 440 Hz must arrive at the 200's port (the rtp leg followed the 200).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { startServer, fetchRaw, freePort } from '../lib/server.mjs';
import { startSipp } from '../lib/sip-peers.mjs';
import { sharedBrowser, measure, hangup, nextHangup, nextCallState, sleep, near } from './lib/raw-call.mjs';

const { openTab } = sharedBrowser({ toneHz: 440 });

/** G.711 mu-law of one 16-bit sample (ITU-T G.711, with the usual bias of 0x84). */
function ulaw(sample) {
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(Math.abs(sample), 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** G.711 A-law of one 16-bit sample. */
function alaw(sample) {
  let ix = Math.min(Math.abs(sample), 32767) >> 3;
  if (ix > 15) {
    let exponent = 1;
    while (ix > 16 + 15) { ix >>= 1; exponent++; }
    ix = ix - 16 + (exponent << 4);
  }
  if (sample >= 0) ix |= 0x80;
  return ix ^ 0x55;
}

/** A-law code -> linear sample. */
function unalaw(code) {
  const ix = code ^ 0x55;
  const exponent = (ix & 0x7f) >> 4;
  let mantissa = ix & 0x0f;
  if (exponent > 0) mantissa += 16;
  mantissa = (mantissa << 4) + 8;
  if (exponent > 1) mantissa <<= exponent - 1;
  return ix & 0x80 ? mantissa : -mantissa;
}

/** mu-law code -> linear sample. */
function unulaw(code) {
  const c = ~code & 0xff;
  const magnitude = ((((c & 0x0f) << 3) + 0x84) << ((c >> 4) & 7)) - 0x84;
  return c & 0x80 ? -magnitude : magnitude;
}

/** Sends a mu-law tone as RTP (20 ms packets) from socket to host:port until stop() is called. */
function playTone(socket, host, port, hz, { pt = 0, ssrc = Math.floor(Math.random() * 0xffffffff), seq = 0, ts = 0 } = {}) {
  const encode = pt === 8 ? alaw : ulaw;
  let phase = 0;
  const timer = setInterval(() => {
    const packet = Buffer.alloc(12 + 160);
    packet[0] = 0x80; packet[1] = pt;
    packet.writeUInt16BE(seq++ & 0xffff, 2);
    packet.writeUInt32BE(ts >>> 0, 4);
    packet.writeUInt32BE(ssrc, 8);
    for (let i = 0; i < 160; i++, phase++) packet[12 + i] = encode(Math.round(8000 * Math.sin((2 * Math.PI * hz * phase) / 8000)));
    ts += 160;
    socket.send(packet, port, host);
  }, 20);
  return { stop: () => { clearInterval(timer); return { ssrc, seq, ts }; } };
}

/** Our SIP-side media address from the INVITE sipp received. */
function offeredMedia(messages) {
  const invite = messages.split(/-{10,}/).find((m) => /message received[^\n]*\n\s*INVITE /.test(m));
  const port = /m=audio (\d+) /.exec(invite || '');
  const host = /c=IN IP4 (\S+)/.exec(invite || '');
  assert.ok(port && host, `no INVITE with SDP:\n${messages}`);
  return { host: host[1], port: Number(port[1]) };
}

/** Goertzel power of hz in 8 kHz samples, relative to the total power. */
function toneShare(samples, hz) {
  const k = 2 * Math.cos((2 * Math.PI * hz) / 8000);
  let s1 = 0, s2 = 0, total = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1; s1 = s0;
    total += x * x;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return total > 0 ? (2 * power) / (samples.length * total) : 0;
}

for (const [scenario, label] of [['early-media.xml', ''], ['early-media-100rel.xml', ' (reliable 183, PRACKed)']]) test(`early media${label}: the 183 tone reaches the tab before the answer; after a 200 with another SDP the rtp leg follows it`, async () => {
  const srv = await startServer();
  const mediaPort = await freePort();
  // The 200's SDP names mediaPort + 4: we listen there as the far end's "new" media address.
  const heard = [];
  const listener = dgram.createSocket('udp4');
  listener.on('message', (msg) => { if (msg.length > 12 && (msg[1] & 0x7f) === 0) heard.push(msg.subarray(12)); });
  await new Promise((resolve) => listener.bind(mediaPort + 4, '127.0.0.1', resolve));
  const earlySocket = dgram.createSocket('udp4');
  await new Promise((resolve) => earlySocket.bind(0, '127.0.0.1', resolve));
  const sipp = await startSipp(scenario, { args: ['-m', '1', '-t', 'u1', '-mp', String(mediaPort)] });
  let early = null, late = null;
  try {
    const page = await openTab(srv);
    const progressed = await page.evaluate(async (to) => {
      const rc = window.rc;
      await rc.newPeer('em1');
      const offer = await rc.pc.createOffer();
      await rc.pc.setLocalDescription(offer);
      rc.send({ type: 'call', call_id: 'em1', to, sdp: offer.sdp });
      const progress = await rc.next('progress', 10000);
      // A provisional answer: the final one may still differ (RFC 3264 + JSEP's pranswer).
      await rc.setRemote({ type: 'pranswer', sdp: progress.sdp });
      return { code: progress.code, sdp: progress.sdp, answeredYet: rc.queue.some((m) => m.type === 'answered') };
    }, `sip:announce@127.0.0.1:${sipp.port}`);
    assert.equal(progressed.code, 183);
    assert.match(progressed.sdp, /a=fingerprint:sha-256/);
    assert.equal(progressed.answeredYet, false);
    const ours = offeredMedia(sipp.messages());
    early = playTone(earlySocket, ours.host, ours.port, 880);

    await sleep(1200);
    const before = await measure(page, 1200);
    const answeredAlready = await page.evaluate(() => window.rc.queue.some((m) => m.type === 'answered'));
    assert.equal(answeredAlready, false, 'the early media window is over too soon to measure');
    assert.ok(near(before.frequency, 880), `early media: heard ${before.frequency} Hz (level ${before.level} dB)`);
    assert.ok(before.packetsReceived > 20, `early media packets: ${before.packetsReceived}`);

    const answered = await page.evaluate(async () => {
      const rc = window.rc;
      const m = await rc.next('answered', 10000);
      if (m.sdp) await rc.setRemote({ type: 'answer', sdp: m.sdp });
      return { sdp: m.sdp ?? null, codec: m.codec, state: rc.pc.signalingState };
    });
    // Another source, as when a phone answers after a media server's announcement: new SSRC,
    // sequence and timestamps start anew.
    early.stop();
    late = playTone(listener, ours.host, ours.port, 660);
    assert.equal(answered.state, 'stable');
    assert.match(answered.codec, /PCMU/);
    heard.length = 0;
    await sleep(1500);
    const after = await measure(page, 1200);
    assert.ok(near(after.frequency, 660), `after the answer: heard ${after.frequency} Hz`);
    // The tab's 440 Hz went to the 200's port.
    assert.ok(heard.length > 40, `packets at the 200's port: ${heard.length}`);
    const samples = Buffer.concat(heard.slice(-50)).toJSON().data.map(unulaw);
    const share440 = toneShare(samples, 440);
    assert.ok(share440 > 0.5, `440 Hz share of the tab's audio at the new port: ${share440.toFixed(2)}`);

    if (label) assert.match(sipp.messages(), /PRACK sip:[^\n]*\n[\s\S]*RAck: 1 \d+ INVITE/);
    await hangup(page);
    for (let i = 0; i < 30 && !/BYE sip:/.test(sipp.messages()); i++) await sleep(100);
    assert.match(sipp.messages(), /BYE sip:/);
    const health = JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body);
    assert.ok(health.calls <= 1);
    await page.close();
  } finally {
    early?.stop();
    late?.stop();
    listener.close();
    earlySocket.close();
    await sipp.stop();
    await srv.stop();
  }
});

test('session timer: a far end that stops refreshing is hung up; the tab gets hangup session_timer_expired', async () => {
  const srv = await startServer({ config: { sip: { min_se: 2 } } });
  const sipp = await startSipp('session-timer-silent.xml'); // 6 s, refresher=uas, then silent
  try {
    const page = await openTab(srv);
    const t0 = Date.now();
    await page.evaluate(async (to) => {
      const rc = window.rc;
      await rc.newPeer('st1');
      const offer = await rc.pc.createOffer();
      await rc.pc.setLocalDescription(offer);
      rc.send({ type: 'call', call_id: 'st1', to, sdp: offer.sdp });
      const m = await rc.next('answered', 10000);
      await rc.setRemote({ type: 'answer', sdp: m.sdp });
    }, `sip:timer@127.0.0.1:${sipp.port}`);
    const h = await nextHangup(page, 15000);
    assert.equal(h.reason, 'session_timer_expired');
    assert.equal(h.code, 408);
    assert.ok(Date.now() - t0 < 9000, `took ${Date.now() - t0} ms`);
    for (let i = 0; i < 30 && !/BYE sip:/.test(sipp.messages()); i++) await sleep(100);
    assert.match(sipp.messages(), /Reason: SIP;cause=408/);
    const metrics = await fetchRaw(`${srv.httpUrl}/metrics`);
    if (metrics.status === 200) assert.match(metrics.body, /session_timer_expired\S*\s+1/);
    await page.close();
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('a far end that switches codec mid-call (PCMU -> PCMA re-INVITE): audio keeps flowing both ways', async () => {
  const srv = await startServer();
  const mediaPort = await freePort();
  const packets = [];
  const farEnd = dgram.createSocket('udp4');
  farEnd.on('message', (msg) => { if (msg.length > 12) packets.push({ pt: msg[1] & 0x7f, payload: msg.subarray(12) }); });
  await new Promise((resolve) => farEnd.bind(mediaPort + 4, '127.0.0.1', resolve));
  const sipp = await startSipp('codec-change.xml', { args: ['-m', '1', '-t', 'u1', '-mp', String(mediaPort)] });
  let before = null, after = null;
  const reinviteAnswered = () => sipp.messages().split(/-{10,}/)
    .find((m) => /message received[^\n]*\n\s*SIP\/2.0 200/.test(m) && /CSeq: 2 INVITE/.test(m));
  try {
    const page = await openTab(srv);
    await page.evaluate(async (to) => {
      const rc = window.rc;
      await rc.newPeer('cc1');
      const offer = await rc.pc.createOffer();
      await rc.pc.setLocalDescription(offer);
      rc.send({ type: 'call', call_id: 'cc1', to, sdp: offer.sdp });
      const m = await rc.next('answered', 10000);
      await rc.setRemote({ type: 'answer', sdp: m.sdp });
    }, `sip:switch@127.0.0.1:${sipp.port}`);
    const ours = offeredMedia(sipp.messages());
    assert.match(sipp.messages(), /m=audio \d+ RTP\/AVP[^\n]* 8[ \r\n]/, 'our offer lists PCMA');
    before = playTone(farEnd, ours.host, ours.port, 880, { pt: 0 });
    await sleep(1000);
    const heardBefore = await measure(page, 1000);
    assert.ok(near(heardBefore.frequency, 880), `before the switch: heard ${heardBefore.frequency} Hz`);

    for (let i = 0; i < 60 && !reinviteAnswered(); i++) await sleep(100);
    const ok = reinviteAnswered();
    assert.ok(ok, sipp.messages());
    assert.match(ok, /m=audio \d+ RTP\/AVP 8[ \r\n]/, 'our answer takes PCMA');
    const badge = await nextCallState(page, 'active', 5000);
    assert.equal(badge.codec, 'PCMU/8000 <-> PCMA/8000');
    assert.equal(badge.transcoded, true);
    // The far end now sends A-law (its own stream goes on: same SSRC, next sequence numbers).
    after = playTone(farEnd, ours.host, ours.port, 660, { ...before.stop(), pt: 8 });
    packets.length = 0;
    await sleep(1200);
    const heardAfter = await measure(page, 1200);
    assert.ok(near(heardAfter.frequency, 660), `after the switch: heard ${heardAfter.frequency} Hz`);
    const recent = packets.slice(-50);
    assert.ok(recent.length >= 40, `packets to the far end after the switch: ${recent.length}`);
    assert.ok(recent.every((p) => p.pt === 8), `payload types: ${[...new Set(recent.map((p) => p.pt))]}`);
    const samples = Buffer.concat(recent.map((p) => p.payload)).toJSON().data.map(unalaw);
    const share = toneShare(samples, 440);
    assert.ok(share > 0.5, `440 Hz share of the tab's audio, decoded as A-law: ${share.toFixed(2)}`);
    await hangup(page);
    await page.close();
  } finally {
    before?.stop();
    after?.stop();
    farEnd.close();
    await sipp.stop();
    await srv.stop();
  }
});
