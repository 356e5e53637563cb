// Transcoded calls end to end: headless Chromium (Opus, forced by [media] browser_codec = opus)
// <-> tabphone <-> baresip that speaks only PCMU or G722. The tab's fake microphone plays
// 440 Hz; the phone plays 880 Hz and records what it hears. Also: 5 % packet loss on the SIP
// side (a small UDP relay in front of tabphone's RTP port drops 1 packet in 20) still gives the
// tab a continuous tone. Runs inside the test network namespace (tests/e2e/run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { sharedBrowser, call, acceptIncoming, measure, hangup, sleep, near } from './lib/raw-call.mjs';
import { startRtpRelay } from './lib/rtp-relay.mjs';

const { openTab } = sharedBrowser();
const forcedOpus = { media: { browser_codec: 'opus' } };
const long = process.env.TABPHONE_SKIP_LONG ? 'long test: normal build only' : false;

/** The server's media lines (for failure messages). */
const mediaLog = (srv) => srv.logs().split('\n').filter((l) => / media | call /.test(l)).slice(-30).join('\n');

/**
 * The transcoded leg's own RTCP as the tab's WebRTC stack sees it (tabphone reports on each
 * leg itself, rtcp_report.h): our report block about the tab's stream (remote-inbound-rtp) and
 * our sender report (remote-outbound-rtp). Waits up to ms for both.
 */
function rtcpSeenByTab(page, ms = 8000) {
  return page.evaluate(async (ms) => {
    const end = performance.now() + ms;
    let found = {};
    while (performance.now() < end) {
      found = {};
      (await window.rc.pc.getStats()).forEach((s) => {
        if (s.kind !== 'audio') return;
        if (s.type === 'remote-inbound-rtp') found.remoteInbound = { packetsLost: s.packetsLost, fractionLost: s.fractionLost, jitter: s.jitter, roundTripTime: s.roundTripTime };
        if (s.type === 'remote-outbound-rtp') found.remoteOutbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
      });
      if (found.remoteInbound && found.remoteOutbound) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return found;
  }, ms);
}

/** Both directions carry their tone; returns what the tab measured. */
async function checkToneBothWays(page, phone, srv) {
  await sleep(2500);
  const m = await measure(page);
  assert.ok(near(m.frequency, 880), `tab heard ${m.frequency} Hz, expected the phone's 880 Hz\n${mediaLog(srv)}`);
  assert.ok(m.level > -60, `tab level ${m.level} dB`);
  await hangup(page);
  await phone.waitFor(/terminated|closed/);
  await sleep(500);
  const heard = phone.heard();
  assert.ok(heard.seconds > 1.5, `phone recorded ${heard.seconds} s`);
  assert.ok(near(heard.frequency, 440, 20), `phone heard ${heard.frequency} Hz, expected 440 Hz`);
  assert.ok(heard.rms > 0.05, `phone heard rms ${heard.rms}`);
  await srv.waitForLog(/transcoded to the browser: \d+ frames/);
  return m;
}

test('a browser forced to Opus talks to a PCMU-only phone through the transcoder, DTMF included', async () => {
  const srv = await startServer({ config: forcedOpus });
  const phone = await startBaresip({ toneHz: 880, codecs: 'PCMU' });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri);
    assert.equal(answered.codec, 'opus/48000/2 <-> PCMU/8000');
    assert.equal(answered.transcoded, true);
    assert.match(answered.sdp, /a=rtpmap:\d+ opus\/48000\/2/);
    assert.doesNotMatch(answered.sdp, /PCMU/);
    // The browser's own RFC 4733 events (telephone-event/48000) reach the phone as events at
    // 8000 Hz, not as audio. baresip 1.0 prints each one as "received event: '5' (end=1)".
    await sleep(1000);
    await page.evaluate(() => window.rc.pc.getSenders()[0].dtmf.insertDTMF('15#', 100, 70));
    await phone.waitFor(/received event: '#' \(end=1\)/, 5000);
    const digits = [...phone.output().matchAll(/received event: '(.)' \(end=1\)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(digits)], ['1', '5', '#'], `the phone saw ${digits.join('')}`);
    const rtcp = await rtcpSeenByTab(page);
    assert.ok(rtcp.remoteInbound, `no report block about the tab's stream reached it: ${JSON.stringify(rtcp)}\n${mediaLog(srv)}`);
    assert.equal(rtcp.remoteInbound.packetsLost, 0);
    assert.ok(rtcp.remoteOutbound?.packetsSent > 25, `our sender report: ${JSON.stringify(rtcp.remoteOutbound)}`);
    console.log(`# tab's view of our RTCP: ${JSON.stringify(rtcp)}`);
    await checkToneBothWays(page, phone, srv);
    const browserLeg = await srv.waitForLog(/RTCP with the browser: (\d+) reports sent, (\d+) received; (\d+) of (\d+) packets received/);
    assert.ok(Number(browserLeg[1]) >= 1 && Number(browserLeg[3]) > 100, browserLeg[0]);
    const sipLeg = await srv.waitForLog(/RTCP with the SIP side: (\d+) reports sent, \d+ received; (\d+) of (\d+) packets received \(0\.0 % lost\)/);
    assert.ok(Number(sipLeg[1]) >= 1 && Number(sipLeg[2]) > 100, sipLeg[0]);
    console.log(`# ${browserLeg[0]}\n# ${sipLeg[0]}`);
    assert.match(srv.logs(), /transcoding opus <-> pcmu/);
    assert.match(srv.logs(), /transcoded to the SIP side: \d+ frames, .* [1-9]\d* telephone-events/);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('a browser forced to Opus talks to a G722-only phone through the transcoder', { skip: long }, async () => {
  const srv = await startServer({ config: forcedOpus });
  const phone = await startBaresip({ toneHz: 880, codecs: 'G722' });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri);
    assert.equal(answered.codec, 'opus/48000/2 <-> G722/8000');
    await checkToneBothWays(page, phone, srv);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('an inbound PCMU call reaches a browser forced to Opus', { skip: long }, async () => {
  const srv = await startServer({ config: { ...forcedOpus, 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  let phone;
  try {
    const page = await openTab(srv);
    phone = await startBaresip({ toneHz: 880, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
    const incoming = await acceptIncoming(page);
    assert.match(incoming.sdp, /a=rtpmap:\d+ opus\/48000\/2/);
    assert.doesNotMatch(incoming.sdp, /PCMU/);
    await checkToneBothWays(page, phone, srv);
    assert.match(srv.logs(), /transcoding opus <-> pcmu/);
    await page.close();
  } finally {
    await phone?.stop();
    await srv.stop();
  }
});

/** Samples the tab's received audio every 20 ms for ms: how many windows were near silent. */
function continuity(page, ms = 2000) {
  return page.evaluate(async (ms) => {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024; /* ~21 ms at 48 kHz */
    ctx.createMediaStreamSource(window.rc.remote).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const levels = [];
    const end = performance.now() + ms;
    await new Promise((r) => setTimeout(r, 300));
    while (performance.now() < end) {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      levels.push(Math.sqrt(sum / samples.length));
      await new Promise((r) => setTimeout(r, 20));
    }
    await ctx.close();
    const sorted = [...levels].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return { windows: levels.length, median, quiet: levels.filter((l) => l < median / 4).length };
  }, ms);
}

test('5 % packet loss on the SIP side still gives the tab a continuous tone', { skip: long }, async () => {
  const srv = await startServer({ config: forcedOpus });
  const phone = await startBaresip({ toneHz: 880, codecs: 'PCMU' });
  const relay = await startRtpRelay(phone.port, { dropEvery: 20 });
  try {
    const page = await openTab(srv);
    const answered = await call(page, `sip:phone@127.0.0.1:${relay.sipPort}`);
    assert.equal(answered.codec, 'opus/48000/2 <-> PCMU/8000');
    await sleep(1500);
    const c = await continuity(page);
    const m = await measure(page, 500);
    assert.ok(near(m.frequency, 880), `tab heard ${m.frequency} Hz`);
    assert.ok(relay.dropped >= 5, `relay dropped only ${relay.dropped} of ${relay.forwarded} packets`);
    assert.ok(c.median > 0.05, `tab median level ${c.median}`);
    assert.ok(c.quiet === 0, `${c.quiet} of ${c.windows} windows near silent: a gap in the tone`);
    await hangup(page);
    const stats = await srv.waitForLog(/transcoded to the browser: (\d+) frames, (\d+) concealed/);
    assert.ok(Number(stats[2]) >= 3, `only ${stats[2]} frames concealed: ${stats[0]}`);
    // Our receiver statistics on the SIP leg see the relay's loss (1 in 20, 5 %).
    const sipLeg = await srv.waitForLog(/RTCP with the SIP side: .* (\d+) of (\d+) packets received \(([\d.]+) % lost\)/);
    assert.ok(Number(sipLeg[3]) >= 3 && Number(sipLeg[3]) <= 7, sipLeg[0]);
    console.log(`# ${sipLeg[0]}`);
    console.log(`# relay dropped ${relay.dropped}/${relay.forwarded}; ${stats[0]}; quiet windows ${c.quiet}/${c.windows}`);
    await page.close();
  } finally {
    relay.close();
    await phone.stop();
    await srv.stop();
  }
});
