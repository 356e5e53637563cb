// Real media through server/media/ with headless Chromium on the browser side.
//
// echo_probe (built by meson: build*/tests/media/echo_probe, or $ECHO_PROBE) holds one
// call_media and speaks a line protocol on stdin/stdout (see echo_probe.c). The test builds a
// minimal WebRTC answer from the probe's ICE/DTLS parameters (no SDP module involved), trickles
// candidates both ways, and checks that the fake microphone's 440 Hz tone comes back:
//   1. echo mode: browser -> ICE/DTLS/SRTP -> our echo -> SRTP -> browser (Opus).
//   2. bridge mode: browser -> SRTP -> plain RTP -> a Node UDP echo -> RTP -> SRTP -> browser
//      (PCMU, payload type 0 on both legs).
// The tone is found with an AnalyserNode on the remote stream (which also plays in an <audio>
// element: Chromium feeds WebAudio only then) and getStats() must count > 100 packets in.
// The [media] settings: RTP inactivity timeout (rtp_timeout = 3 s), the port range and its
// exhaustion, RTCP translated both ways (the plain peer sees valid RTCP about our SIP-side
// stream; the browser's getStats gets remote-inbound-rtp back), and re-latching after a
// re-INVITE moves the far end.
//
// NETWORK: run inside a fresh namespace holding only loopback, as root:
//   cd tests && unshare -n sh -c 'ip link set lo up && node --test media/echo.test.mjs'
// The test refuses to run when a default route exists.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function findProbe() {
  if (process.env.ECHO_PROBE) return process.env.ECHO_PROBE;
  const builds = fs.readdirSync(root).filter((d) => d.startsWith('build'))
    .map((d) => path.join(root, d, 'tests/media/echo_probe')).filter((f) => fs.existsSync(f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  assert.ok(builds.length, 'echo_probe not built: ninja -C <build> tests/media/echo_probe');
  return builds[0];
}

function assertIsolated() {
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show'], { encoding: 'utf8' }));
  assert.deepEqual(routes.filter((r) => r.dst === 'default'), [],
    "a default route exists: run inside unshare -n (see this file's header)");
}

// The probe process: send(line), next(prefix) waits for the next line starting with prefix.
function startProbe(mode, extra = []) {
  const child = spawn(findProbe(), [mode, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  const log = [];
  child.stderr.on('data', (d) => log.push(d.toString()));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  // Resolves with [prefix, rest] for the first line that starts with one of the prefixes.
  function nextOf(prefixes, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = 0; i < lines.length; i++) {
          const prefix = prefixes.find((p) => lines[i] === p || lines[i].startsWith(p + ' '));
          if (prefix === undefined) continue;
          const [line] = lines.splice(i, 1);
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve([prefix, line.slice(prefix.length + 1)]);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`probe: no '${prefixes.join("' or '")}' line; log:\n${log.join('')}`));
      }, timeoutMs);
      waiters.push(check);
      check();
    });
  }
  const next = async (prefix, timeoutMs) => (await nextOf([prefix], timeoutMs))[1];
  return {
    send: (line) => child.stdin.write(line + '\n'),
    next,
    nextOf,
    lines,
    log,
    async stop() {
      child.stdin.end('quit\n');
      await new Promise((r) => child.once('exit', r));
      return child.exitCode;
    },
  };
}

let dir;
let context;

before(async () => {
  assertIsolated();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-media-'));
  const wav = path.join(dir, 'tone.wav');
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', wav, 'synth', '30', 'sine', '440', 'vol', '0.5']);
  context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`,
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required', '--mute-audio',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run'],
  });
});

after(async () => {
  await context?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// A localhost page is a secure context (getUserMedia needs one); nothing goes on the wire.
async function openPage() {
  const page = await context.newPage();
  await page.route('http://localhost/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>media</title><body></body>' }));
  await page.goto('http://localhost/');
  return page;
}

// In the page: microphone -> RTCPeerConnection offer. Local candidates collect in window.cands.
async function makeOffer(page) {
  return page.evaluate(async () => {
    window.cands = [];
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const pc = new RTCPeerConnection({ iceServers: [] });
    window.pc = pc;
    pc.onicecandidate = (e) => window.cands.push(e.candidate ? e.candidate.candidate : null);
    pc.ontrack = (e) => { window.remote = new MediaStream([e.track]); };
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    return offer.sdp;
  });
}

function attr(sdp, name) {
  const m = sdp.match(new RegExp(`^a=${name}:(.*)$`, 'm'));
  assert.ok(m, `offer has no a=${name}`);
  return m[1].trim();
}

// The smallest answer Chromium accepts: one audio m-line, our ICE/DTLS parameters, one codec.
function answerSdp(offer, local, ourSetup, codec) {
  const mid = attr(offer, 'mid');
  return [
    'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
    `a=group:BUNDLE ${mid}`, 'a=msid-semantic: WMS tabphone',
    `m=audio 9 UDP/TLS/RTP/SAVPF ${codec.pt}`, 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
    `a=ice-ufrag:${local.ufrag}`, `a=ice-pwd:${local.pwd}`, 'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${local.fingerprint}`, `a=setup:${ourSetup}`, `a=mid:${mid}`,
    'a=sendrecv', 'a=msid:tabphone audio0', 'a=rtcp-mux',
    `a=rtpmap:${codec.pt} ${codec.rtpmap}`, ...(codec.fmtp ? [`a=fmtp:${codec.pt} ${codec.fmtp}`] : []),
    'a=ssrc:2058354689 cname:tabphone', 'a=ssrc:2058354689 msid:tabphone audio0', '',
  ].join('\r\n');
}

// Trickles the browser's candidates to the probe until the browser's end-of-candidates.
async function forwardBrowserCandidates(page, probe) {
  let sent = 0;
  for (let i = 0; i < 100; i++) {
    const cands = await page.evaluate(() => window.cands);
    for (; sent < cands.length; sent++) {
      probe.send(cands[sent] ? `candidate ${cands[sent]}` : 'candidate-end');
      if (!cands[sent]) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  probe.send('candidate-end');
}

// Forwards probe candidates into the page until the probe's candidate-end.
async function forwardProbeCandidates(page, probe, mid) {
  for (;;) {
    const [kind, line] = await probe.nextOf(['candidate', 'candidate-end']);
    if (kind === 'candidate-end') {
      await page.evaluate(() => window.pc.addIceCandidate(null).catch(() => {}));
      return;
    }
    await page.evaluate(([c, m]) => window.pc.addIceCandidate({ candidate: c, sdpMid: m, sdpMLineIndex: 0 }), [line, mid]);
  }
}

// Plays the remote stream and measures it: dominant frequency, its level, packets received.
async function measure(page) {
  await page.evaluate(async () => {
    for (let i = 0; i < 100 && !window.remote; i++) await new Promise((r) => setTimeout(r, 50));
    const audio = document.createElement('audio');
    audio.srcObject = window.remote;
    audio.autoplay = true;
    document.body.append(audio);
    await audio.play().catch(() => {});
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192; // 5.9 Hz bins at 48 kHz
    ctx.createMediaStreamSource(window.remote).connect(analyser);
    window.analyser = analyser;
    window.rate = ctx.sampleRate;
  });
  await new Promise((r) => setTimeout(r, 4000));
  return page.evaluate(async () => {
    const bins = new Float32Array(window.analyser.frequencyBinCount);
    window.analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    // Parabolic interpolation between the peak bin and its neighbours (in dB).
    const [a, b, c] = [bins[best - 1] ?? bins[best], bins[best], bins[best + 1] ?? bins[best]];
    const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
    const stats = await window.pc.getStats();
    let packetsReceived = 0;
    let packetsSent = 0;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') packetsReceived = s.packetsReceived;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') packetsSent = s.packetsSent;
    });
    return { hz: ((best + shift) * window.rate) / window.analyser.fftSize, db: bins[best], packetsReceived, packetsSent };
  });
}

// One whole call: offer, answer from the probe's parameters, trickle, DTLS, tone check.
// tamper: give the probe a wrong browser fingerprint; then the call must fail and the result
// is the probe's failure reason.
async function runCall(mode, codecFromOffer, setupProbe, { tamper = false, afterConnect, args = [], inCall } = {}) {
  const probe = startProbe(mode, args);
  const page = await openPage();
  try {
    const [ufrag, pwd, fingerprint] = (await probe.next('local')).split(' ');
    if (setupProbe) await setupProbe(probe);
    const offer = await makeOffer(page);
    const remoteFp = attr(offer, 'fingerprint').split(' ');
    if (tamper) remoteFp[1] = (remoteFp[1].startsWith('00') ? 'FF' : '00') + remoteFp[1].slice(2);
    probe.send(`remote ${attr(offer, 'ice-ufrag')} ${attr(offer, 'ice-pwd')} ${attr(offer, 'setup')} ${remoteFp[1]}`);
    const ourSetup = await probe.next('setup');
    const answer = answerSdp(offer, { ufrag, pwd, fingerprint }, ourSetup, codecFromOffer(offer));
    await page.evaluate((sdp) => window.pc.setRemoteDescription({ type: 'answer', sdp }), answer);
    await Promise.all([forwardBrowserCandidates(page, probe), forwardProbeCandidates(page, probe, attr(offer, 'mid'))]);
    if (tamper) return { failed: await probe.next('failed', 20000), log: probe.log.join('') };
    const profile = await probe.next('connected', 20000);
    if (inCall) return await inCall(probe, page);
    const result = await measure(page);
    result.profile = profile;
    if (afterConnect) {
      afterConnect(probe);
      await new Promise((r) => setTimeout(r, 1000));
    }
    result.log = probe.log.join('');
    assert.deepEqual(probe.lines.filter((l) => /^(failed|timeout)/.test(l)), []);
    return result;
  } finally {
    await page.close();
    assert.equal(await probe.stop(), 0, 'probe exits cleanly');
  }
}

function assertTone(result, what) {
  console.log(`${what}: ${result.hz.toFixed(1)} Hz at ${result.db.toFixed(1)} dB, packets in ${result.packetsReceived} out ${result.packetsSent}, ${result.profile}`);
  assert.ok(Math.abs(result.hz - 440) <= 10, `${what}: dominant ${result.hz} Hz, not 440 Hz`);
  assert.ok(result.db > -60, `${what}: level ${result.db} dB: silence`);
  assert.ok(result.packetsReceived > 100, `${what}: only ${result.packetsReceived} packets received`);
}

test('echo mode loops the browser tone back through ICE, DTLS and SRTP', async () => {
  const opus = (offer) => {
    const m = offer.match(/^a=rtpmap:(\d+) opus\/48000\/2/m);
    assert.ok(m, 'Chromium offers Opus');
    return { pt: Number(m[1]), rtpmap: 'opus/48000/2', fmtp: 'minptime=10;useinbandfec=1' };
  };
  const result = await runCall('echo', opus);
  assertTone(result, 'echo');
  assert.match(result.log, /DTLS done/);
});

test('bridge mode carries the tone to plain RTP and back (PCMU both legs)', async () => {
  const echo = dgram.createSocket('udp4');
  let echoed = 0;
  const events = []; // [event, end bit, duration] of telephone-event packets (pt 101)
  echo.on('message', (msg, rinfo) => {
    echoed++;
    if ((msg[1] & 0x7f) === 101) events.push([msg[12], msg[13] >> 7, msg.readUInt16BE(14), msg.readUInt32BE(4)]);
    echo.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise((r) => echo.bind(0, '127.0.0.1', r));
  try {
    const port = echo.address().port;
    const result = await runCall('bridge', () => ({ pt: 0, rtpmap: 'PCMU/8000' }), async (probe) => {
      await probe.next('rtp');
      probe.send(`rtp-remote 127.0.0.1 ${port} ${port + 1}`);
      probe.send('codec 0 0 8000 -1 101');
    }, { afterConnect: (probe) => probe.send('dtmf 1#') });
    console.log(`bridge: the UDP echo saw ${echoed} plain RTP packets`);
    assertTone(result, 'bridge');
    assert.ok(echoed > 100, `only ${echoed} plain RTP packets reached the far end`);
    // RFC 4733: per digit, updates every 20 ms up to 100 ms (800 units at 8 kHz), then 3 end
    // packets; one timestamp per event.
    const digits = [...new Set(events.map((e) => e[0]))];
    assert.deepEqual(digits, [1, 11], `telephone-events seen: ${JSON.stringify(events)}`);
    for (const d of digits) {
      const mine = events.filter((e) => e[0] === d);
      assert.equal(mine.filter((e) => e[1]).length, 3, 'three end packets');
      assert.equal(Math.max(...mine.map((e) => e[2])), 800, 'final duration 100 ms');
      assert.equal(new Set(mine.map((e) => e[3])).size, 1, 'one timestamp per event');
    }
    console.log(`bridge: DTMF '1#' went out as ${events.length} telephone-event packets`);
  } finally {
    echo.close();
  }
});

test('a browser certificate that does not match its SDP fingerprint fails the call', async () => {
  const opus = (offer) => ({ pt: Number(offer.match(/^a=rtpmap:(\d+) opus\/48000\/2/m)[1]), rtpmap: 'opus/48000/2' });
  const result = await runCall('echo', opus, null, { tamper: true });
  assert.equal(result.failed, 'dtls_fingerprint_mismatch');
  assert.doesNotMatch(result.log, /first RTP packet to the browser/);
});

// Inbound calls: we offer (a=setup:actpass, ICE controlling), Chromium answers active, so we
// are the DTLS server and Chromium's ClientHello may arrive before libnice can send.
test('when we offer, the browser is the DTLS client and the tone still comes back', async () => {
  const probe = startProbe('echo', ['controlling']);
  const page = await openPage();
  try {
    const [ufrag, pwd, fingerprint] = (await probe.next('local')).split(' ');
    const offer = answerSdp('a=mid:0', { ufrag, pwd, fingerprint }, 'actpass',
      { pt: 111, rtpmap: 'opus/48000/2', fmtp: 'minptime=10;useinbandfec=1' });
    const answer = await page.evaluate(async (sdp) => {
      window.cands = [];
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const pc = new RTCPeerConnection({ iceServers: [] });
      window.pc = pc;
      pc.onicecandidate = (e) => window.cands.push(e.candidate ? e.candidate.candidate : null);
      pc.ontrack = (e) => { window.remote = new MediaStream([e.track]); };
      await pc.setRemoteDescription({ type: 'offer', sdp });
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      return answer.sdp;
    }, offer);
    assert.equal(attr(answer, 'setup'), 'active');
    probe.send(`remote ${attr(answer, 'ice-ufrag')} ${attr(answer, 'ice-pwd')} active ${attr(answer, 'fingerprint').split(' ')[1]}`);
    assert.equal(await probe.next('setup'), 'passive');
    await Promise.all([forwardBrowserCandidates(page, probe), forwardProbeCandidates(page, probe, '0')]);
    const result = await measure(page);
    result.profile = await probe.next('connected', 20000);
    assertTone(result, 'inbound echo');
    assert.match(probe.log.join(''), /DTLS role server/);
  } finally {
    await page.close();
    assert.equal(await probe.stop(), 0, 'probe exits cleanly');
  }
});

// A plain RTP far end on 127.0.0.1: echoes RTP (port P) and RTCP (port P + 1) while `echoing`,
// and keeps what it saw.
async function plainPeer() {
  const rtp = dgram.createSocket('udp4');
  const rtcp = dgram.createSocket('udp4');
  const peer = { rtp: 0, rtcp: [], echoing: true, ssrcs: new Set(), rtpFrom: new Set() };
  rtp.on('message', (msg, rinfo) => {
    peer.rtp++;
    peer.ssrcs.add(msg.readUInt32BE(8));
    peer.rtpFrom.add(rinfo.port);
    if (peer.echoing) rtp.send(msg, rinfo.port, rinfo.address);
  });
  rtcp.on('message', (msg, rinfo) => {
    peer.rtcp.push(Buffer.from(msg));
    if (peer.echoing) rtcp.send(msg, rinfo.port, rinfo.address);
  });
  for (let i = 0; ; i++) { // an even port whose + 1 is free too
    await new Promise((r) => rtp.bind(0, '127.0.0.1', r));
    const port = rtp.address().port;
    const ok = port % 2 === 0 && await new Promise((r) => {
      rtcp.once('error', () => r(false));
      rtcp.bind(port + 1, '127.0.0.1', () => r(true));
    });
    if (ok) break;
    assert.ok(i < 50, 'no even/odd port pair for the plain peer');
    rtp.close();
    await new Promise((r) => setTimeout(r, 10));
    return plainPeer();
  }
  peer.port = rtp.address().port;
  peer.close = () => { rtp.close(); rtcp.close(); };
  return peer;
}

const pcmu = () => ({ pt: 0, rtpmap: 'PCMU/8000' });

// Parses one compound RTCP packet into [{pt, ssrc, blocks: [ssrc...]}], null when invalid.
function parseRtcp(buf) {
  const parts = [];
  for (let off = 0; off < buf.length;) {
    if (buf.length - off < 8 || buf[off] >> 6 !== 2) return null;
    const len = 4 * (buf.readUInt16BE(off + 2) + 1);
    if (off + len > buf.length) return null;
    const pt = buf[off + 1];
    const part = { pt, ssrc: buf.readUInt32BE(off + 4), blocks: [] };
    const fixed = pt === 200 ? 28 : 8;
    if (pt === 200 || pt === 201)
      for (let i = 0; i < (buf[off] & 0x1f); i++) part.blocks.push(buf.readUInt32BE(off + fixed + 24 * i));
    parts.push(part);
    off += len;
  }
  return parts;
}

test('a far end that stops sending ends the call with an RTP timeout after rtp_timeout (3 s)', async () => {
  const peer = await plainPeer();
  try {
    const seconds = await runCall('bridge', pcmu, async (probe) => {
      await probe.next('rtp');
      probe.send(`rtp-remote 127.0.0.1 ${peer.port} ${peer.port + 1}`);
      probe.send('codec 0 0 8000 -1 101');
    }, {
      args: ['rtp_timeout=3'],
      inCall: async (probe) => {
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(peer.rtp > 20, `media flows first (${peer.rtp} packets)`);
        assert.deepEqual(probe.lines.filter((l) => /^timeout/.test(l)), [], 'no timeout while the far end echoes');
        peer.echoing = false;
        const t0 = Date.now();
        await probe.next('timeout', 8000);
        return (Date.now() - t0) / 1000;
      },
    });
    console.log(`rtp timeout: reported ${seconds.toFixed(2)} s after the far end went silent`);
    assert.ok(seconds >= 2.5 && seconds <= 4.2, `timeout after ${seconds} s, expected ~3 s`);
  } finally {
    peer.close();
  }
});

test('RTP ports come from the configured range, skip taken pairs, wrap around, and run out cleanly', async () => {
  const blocker = dgram.createSocket('udp4'); // another process holds 41005: pair 41004 is taken
  await new Promise((r) => blocker.bind(41005, '127.0.0.1', r));
  const probe = startProbe('bridge', ['port_min=41000', 'port_max=41009']);
  try {
    const [, main] = (await probe.next('rtp')).split(' ');
    const ports = [Number(main)];
    for (let i = 0; i < 3; i++) ports.push(Number((await (probe.send('extra'), probe.next('extra'))).split(' ')[1]));
    assert.deepEqual(ports, [41000, 41002, 41006, 41008]);
    probe.send('extra');
    assert.equal(await probe.next('extra-error'), 'no free RTP port in 41000-41009');
    probe.send('free-extra');
    await probe.next('freed');
    await new Promise((r) => setTimeout(r, 200)); // the worker closes the sockets
    probe.send('extra'); // the search goes on after 41008: wraps to the start, 41000 is in use
    assert.equal(Number((await probe.next('extra')).split(' ')[1]), 41002);
    console.log(`ports: ${ports.join(', ')}, then "no free RTP port in 41000-41009", then 41002 after wrapping`);
  } finally {
    blocker.close();
    assert.equal(await probe.stop(), 0, 'probe exits cleanly');
  }
});

test('RTCP is translated both ways and the rtp leg follows a re-INVITE to a new address', async () => {
  const a = await plainPeer();
  const b = await plainPeer();
  try {
    const result = await runCall('bridge', pcmu, async (probe) => {
      await probe.next('rtp');
      probe.send(`rtp-remote 127.0.0.1 ${a.port} ${a.port + 1}`);
      probe.send('codec 0 0 8000 -1 101');
    }, {
      inCall: async (probe, page) => {
        const tone = await measure(page);
        // Chromium sends audio RTCP about every 5 s: wait for its report to come back.
        let remote = null;
        for (let i = 0; i < 40 && !remote; i++) {
          remote = await page.evaluate(async () => {
            let found = null;
            (await window.pc.getStats()).forEach((s) => { if (s.type === 'remote-inbound-rtp') found = { ssrc: s.ssrc, packetsLost: s.packetsLost, roundTripTime: s.roundTripTime, fractionLost: s.fractionLost }; });
            return found;
          });
          if (!remote) await new Promise((r) => setTimeout(r, 250));
        }
        // Re-INVITE: the far end moves to b.
        const beforeA = a.rtp;
        probe.send(`rtp-remote 127.0.0.1 ${b.port} ${b.port + 1}`);
        await new Promise((r) => setTimeout(r, 1500));
        const midA = a.rtp;
        await new Promise((r) => setTimeout(r, 1000));
        return { tone, remote, beforeA, midA, endA: a.rtp, log: probe.log.join('') };
      },
    });
    tone(result);
    function tone(r) { r.tone.profile = 'bridge'; assertTone(r.tone, 'rtcp call'); }
    const parsed = a.rtcp.map(parseRtcp);
    console.log(`rtcp: the plain peer got ${a.rtcp.length} RTCP packets: ${JSON.stringify(parsed.slice(0, 2))}`);
    assert.ok(a.rtcp.length > 0, 'RTCP from the browser reached the far end');
    const ourSsrc = [...a.ssrcs][0];
    assert.equal(a.ssrcs.size, 1, 'one SIP-side SSRC');
    for (const p of parsed) {
      assert.ok(p, 'valid compound RTCP (version 2, lengths fit)');
      assert.ok([200, 201].includes(p[0].pt), `first part is SR/RR, not ${p[0].pt}`);
      assert.equal(p[0].ssrc, ourSsrc, 'the sender SSRC is our SIP-side SSRC');
      // Our echo peer sends back our own SSRC, so that is "the far end's SSRC" here.
      for (const block of p[0].blocks) assert.equal(block, ourSsrc, 'report blocks name the far end SSRC');
      assert.ok(p.every((q) => [200, 201, 202].includes(q.pt)), 'only SR/RR/SDES go to a plain peer');
    }
    console.log(`rtcp: the browser's remote-inbound-rtp: ${JSON.stringify(result.remote)}`);
    assert.ok(result.remote, 'getStats shows remote-inbound-rtp (an RTCP report about its stream came back)');
    console.log(`re-INVITE: a got ${result.beforeA} before, ${result.midA} 1.5 s after, ${result.endA} at the end; b got ${b.rtp} from ports ${[...b.rtpFrom]}`);
    assert.equal(result.endA, result.midA, 'nothing goes to the old address after the move');
    assert.ok(b.rtp > 50, `the new address gets the stream (${b.rtp} packets)`);
    assert.match(result.log, new RegExp(`127\\.0\\.0\\.1:${b.port}.*latched|latched.*127\\.0\\.0\\.1:${b.port}`));
  } finally {
    a.close();
    b.close();
  }
});
