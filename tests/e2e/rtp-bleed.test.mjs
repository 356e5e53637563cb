// RTP bleed / injection (issue 5): mid-call, a node UDP socket sprays valid PCMU packets carrying
// a 1500 Hz tone at the rtp leg's port, from a foreign port of the far end's own host and from
// another host (127.0.0.2, the namespace's ifb address). The leg latched to the phone's source
// within [media] latch_window_ms, so the tab must keep hearing only the phone's 880 Hz (no
// 1500 Hz energy), and every injected packet is dropped and counted (GET /metrics and the
// call's media close line). Runs inside the test network namespace (tests/e2e/run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startServer, fetchRaw } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { sharedBrowser, call, hangup, sleep, near } from './lib/raw-call.mjs';
import { startRtpRelay } from './lib/rtp-relay.mjs';

const { openTab } = sharedBrowser();

/** G.711 µ-law of one 16-bit sample. */
function ulaw(sample) {
  const BIAS = 0x84, CLIP = 32635;
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(Math.abs(sample), CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; exponent--, mask >>= 1);
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Sends 20 ms PCMU packets of a loud tone at hz to port, from a socket bound to fromHost, for ms. */
async function inject({ fromHost, port, hz = 1500, ms = 3000 }) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => { sock.once('error', reject); sock.bind(0, fromHost, resolve); });
  const ssrc = (Math.random() * 0xffffffff) >>> 0;
  let seq = 1000, ts = 0, sent = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const packet = Buffer.alloc(12 + 160);
    packet[0] = 0x80;
    packet[1] = 0; // PCMU
    packet.writeUInt16BE(seq++ & 0xffff, 2);
    packet.writeUInt32BE(ts >>> 0, 4);
    packet.writeUInt32BE(ssrc, 8);
    for (let i = 0; i < 160; i++) packet[12 + i] = ulaw(Math.round(24000 * Math.sin((2 * Math.PI * hz * (ts + i)) / 8000)));
    ts += 160;
    await new Promise((r) => sock.send(packet, port, '127.0.0.1', r));
    sent++;
    await sleep(20);
  }
  sock.close();
  return sent;
}

/** Levels (dB, loudest FFT bin within ±2 bins) of the tab's remote audio at each frequency. */
function levelsAt(page, freqs, ms = 1500) {
  return page.evaluate(async ({ freqs, ms }) => {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(window.rc.remote).connect(analyser);
    await new Promise((r) => setTimeout(r, ms));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    const out = {};
    for (const f of freqs) {
      const c = Math.round((f * analyser.fftSize) / ctx.sampleRate);
      out[f] = Math.max(...bins.slice(c - 2, c + 3));
    }
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    out.dominant = (best * ctx.sampleRate) / analyser.fftSize;
    await ctx.close();
    return out;
  }, { freqs, ms });
}

async function foreignDropped(srv) {
  const r = await fetchRaw(`${srv.httpUrl}/metrics`);
  assert.equal(r.status, 200);
  const m = r.body.match(/^tabphone_rtp_foreign_dropped_total (\d+)$/m);
  assert.ok(m, 'the counter is exported');
  return Number(m[1]);
}

test('RTP injected mid-call from foreign sources is dropped and counted, never heard by the tab', async () => {
  const srv = await startServer();
  const phone = await startBaresip({ toneHz: 880 });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri);
    assert.equal(answered.codec, 'PCMU/8000');
    const port = Number((await srv.waitForLog(/\[call c1\] new \(bridge, ICE \w+, RTP [0-9.]+:(\d+)\)/))[1]);
    await srv.waitForLog(/RTP from the SIP side, latched/);
    await sleep(3000); // the 2 s latch window (default) is over
    const before = await levelsAt(page, [880, 1500]);
    const droppedBefore = await foreignDropped(srv);

    // Same host as the phone's SDP (127.0.0.1) but another port, and a host of its own.
    const [sentLocal, sentOther, during] = await Promise.all([
      inject({ fromHost: '127.0.0.1', port }),
      inject({ fromHost: '127.0.0.2', port }),
      sleep(700).then(() => levelsAt(page, [880, 1500])),
    ]);
    const dropped = (await foreignDropped(srv)) - droppedBefore;
    console.log(`# injected ${sentLocal} + ${sentOther} packets; dropped ${dropped}; ` +
      `tab before: 880 Hz ${before[880].toFixed(1)} dB, 1500 Hz ${before[1500].toFixed(1)} dB; ` +
      `during: 880 Hz ${during[880].toFixed(1)} dB, 1500 Hz ${during[1500].toFixed(1)} dB`);

    assert.ok(near(during.dominant, 880), `tab heard ${during.dominant} Hz during the injection`);
    assert.ok(during[1500] < during[880] - 40, `1500 Hz at ${during[1500]} dB vs 880 Hz at ${during[880]} dB`);
    assert.ok(during[1500] < before[1500] + 10, `1500 Hz rose from ${before[1500]} to ${during[1500]} dB`);
    assert.ok(dropped >= (sentLocal + sentOther) * 0.95, `${dropped} of ${sentLocal + sentOther} counted`);
    assert.match(srv.logs(), /RTP from a foreign source dropped \(latched to 127\.0\.0\.1:\d+/);

    await hangup(page);
    await phone.waitFor(/terminated|closed/);
    const closed = await srv.waitForLog(/\[call c1\] closed \(SIP side: (\d+) packets from foreign sources dropped/);
    assert.ok(Number(closed[1]) >= dropped, `per-call count ${closed[1]}`);
    await sleep(500);
    const heard = phone.heard();
    assert.ok(near(heard.frequency, 440, 20), `phone heard ${heard.frequency} Hz (the call went on)`);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('inside the latch window neither a foreign host nor another port of the phone\'s host takes over a talking far end', async () => {
  // A long window: the injection below happens while latching is still allowed.
  const srv = await startServer({ config: { media: { latch_window_ms: 20000 } } });
  const phone = await startBaresip({ toneHz: 880 });
  try {
    const page = await openTab(srv);
    await call(page, phone.uri);
    const port = Number((await srv.waitForLog(/\[call c1\] new \(bridge, ICE \w+, RTP [0-9.]+:(\d+)\)/))[1]);
    await srv.waitForLog(/RTP from the SIP side, latched/);
    const [sentOther, sentLocal, during] = await Promise.all([
      inject({ fromHost: '127.0.0.2', port, ms: 2500 }),
      inject({ fromHost: '127.0.0.1', port, ms: 2500 }),
      sleep(700).then(() => levelsAt(page, [880, 1500])),
    ]);
    const sent = sentOther + sentLocal;
    assert.ok(near(during.dominant, 880), `tab heard ${during.dominant} Hz`);
    assert.ok(during[1500] < during[880] - 40, `1500 Hz at ${during[1500]} dB vs 880 Hz at ${during[880]} dB`);
    assert.equal((srv.logs().match(/RTP from the SIP side, latched/g) || []).length, 1, 'latched once, to the phone');
    assert.ok((await foreignDropped(srv)) >= sent * 0.95);
    await hangup(page);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('a phone behind NAT (RTP from another host than its SDP names) is heard through an account with latch_any_source = yes only', async () => {
  // [media] latch_any_source stays "no"; the account "natted" says yes. The relay makes the
  // phone's RTP arrive from 127.0.0.2 while its SDP names 127.0.0.1.
  const srv = await startServer({ config: {
    'account natted': { uri: 'sip:natted@127.0.0.1', register: 'no', latch_any_source: 'yes' } } });
  const phone = await startBaresip({ toneHz: 880 });
  const relay = await startRtpRelay(phone.port, { host: '127.0.0.2' });
  try {
    const page = await openTab(srv);
    const target = `sip:phone@127.0.0.1:${relay.sipPort}`;
    await call(page, target, { callId: 'strict', fromAccount: 'direct' });
    await sleep(2500);
    const strict = await levelsAt(page, [880]);
    const droppedStrict = await foreignDropped(srv);
    assert.ok(relay.forwarded > 50, `the relay forwarded ${relay.forwarded} packets`);
    assert.ok(strict[880] < -80, `through the direct account the tab heard 880 Hz at ${strict[880]} dB`);
    assert.ok(droppedStrict >= relay.forwarded * 0.8, `${droppedStrict} of ${relay.forwarded} counted as foreign`);
    await hangup(page);
    await phone.waitFor(/terminated|closed/);

    await sleep(300); // the strict call's last packets are counted too
    const before = relay.forwarded, droppedBefore = await foreignDropped(srv);
    await call(page, target, { callId: 'natted', fromAccount: 'natted' });
    await srv.waitForLog(/\[call natted\].*peer=127\.0\.0\.2:\d+ RTP from the SIP side, latched/);
    await sleep(1500);
    const natted = await levelsAt(page, [880]);
    assert.ok(natted.dominant && near(natted.dominant, 880), `through natted the tab heard ${natted.dominant} Hz`);
    assert.ok(natted[880] > -60, `880 Hz at ${natted[880]} dB`);
    assert.equal(await foreignDropped(srv) - droppedBefore, 0, 'nothing dropped on the natted call');
    console.log(`# strict: 880 Hz ${strict[880].toFixed(1)} dB, ${droppedStrict} dropped; natted: 880 Hz ` +
      `${natted[880].toFixed(1)} dB, ${relay.forwarded - before} forwarded`);
    await hangup(page);
    await page.close();
  } finally {
    relay.close();
    await phone.stop();
    await srv.stop();
  }
});
