// Benchmark: K concurrent passthrough calls from one headless Chromium page, through tabphone,
// to a SIP far end that echoes RTP (sipp's built-in uas scenario + -rtp_echo). Prints figures;
// it never passes or fails on time or load (the issue's rule: figures, compared within one run).
//
//   scripts/bench [--calls 1,10,50] [--seconds 60] [--sample 4] [--parallel 5]
//
// Run through scripts/bench: it builds and enters a fresh loopback-only network namespace
// (this file refuses to run outside one, so Chromium never sees the outside interface).
//
// What is measured, per K, once all K calls are connected and settled:
// - tabphone's CPU: utime+stime of the whole process (all threads) from /proc/<pid>/stat over
//   the window, minus the idle rate measured first over a window of the same length (page
//   connected, no calls), as CPU seconds per call-minute.
// - RSS: VmRSS with K calls minus VmRSS idle (before the first call), per call.
// - loss: from the browser's getStats, summed over all calls, deltas over the window:
//   inbound-rtp packetsLost / (lost + received), and the echo gap (sent - received) / sent,
//   which also catches packets that vanish before the far end (its sequence numbers would not
//   show them as lost).
// - tone_ok: a sample of calls plays the remote audio into an AnalyserNode; the call counts
//   when the 440 Hz of the fake microphone came back, so the figures are from working calls.
// Side figures (to read the main ones on a small machine): CPU % of one core used by
// tabphone, by the browser processes, by sipp, and the host's total busy %.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { startServer, freePort } from '../lib/server.mjs';
import { assertInsideTestNamespace, launchBrowser } from '../e2e/lib/browser.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TONE_HZ = 440;
const TONE_TOLERANCE_HZ = 15; // a 8192-point FFT at 48 kHz has 5.9 Hz bins
const TONE_MIN_DB = -60;

function parseArgs(argv) {
  const opts = { calls: [1, 10, 50], seconds: 60, sample: 4, parallel: 5, settle: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--calls') opts.calls = val().split(',').map((s) => Number(s.trim()));
    else if (a === '--seconds') opts.seconds = Number(val());
    else if (a === '--sample') opts.sample = Number(val());
    else if (a === '--parallel') opts.parallel = Number(val());
    else if (a === '--settle') opts.settle = Number(val());
    else if (a === '-h' || a === '--help') {
      console.log('usage: scripts/bench [--calls 1,10,50] [--seconds 60] [--sample 4] [--parallel 5] [--settle 3]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!opts.calls.length || opts.calls.some((k) => !Number.isInteger(k) || k < 1)) throw new Error('--calls: positive integers, e.g. 1,10,50');
  if (!(opts.seconds >= 1)) throw new Error('--seconds: at least 1');
  if (!(opts.sample >= 1) || !(opts.parallel >= 1)) throw new Error('--sample and --parallel: at least 1');
  return opts;
}

// ---- /proc readers ----------------------------------------------------------------------

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts in these ticks on every arch we run

// utime+stime in seconds of a whole process (the process line sums all its threads).
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm may hold spaces or parentheses: the fields start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of proc(5)
}

function rssMB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

// Every process below `root` (not `root` itself), as [{pid, comm}]: the browser's processes are
// children of this node process, and Playwright does not hand out their pids.
function descendants(root) {
  const parent = new Map();
  const comm = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(name), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(name), Number(stat.slice(close + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const out = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid), hops = 0; p && hops < 64; p = parent.get(p), hops++) {
      if (p === root) { out.push({ pid, comm: comm.get(pid) }); break; }
    }
  }
  return out;
}

// CPU seconds of the browser (every descendant of node that is not tabphone or sipp).
function browserCpuSeconds(exclude) {
  let sum = 0;
  for (const { pid } of descendants(process.pid)) {
    if (exclude.includes(pid)) continue;
    try { sum += cpuSeconds(pid); } catch { /* exited */ }
  }
  return sum;
}

// Host-wide busy and total jiffies (all cores), from the first line of /proc/stat.
function hostJiffies() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
  const idle = f[3] + f[4];
  return { busy: total - idle, total };
}

// ---- the far end ------------------------------------------------------------------------

// sipp's built-in uas scenario answers every INVITE with `m=audio [media_port] RTP/AVP 0`
// (PCMU), so the call is a PCMU passthrough; -rtp_echo sends every RTP packet back to the
// address it came from, so all calls can share sipp's one media port (tabphone gives each call
// its own RTP port, and that is where the echo goes). No -m: it answers any number of calls.
async function startEchoUas() {
  const port = await freePort();
  const mediaPort = await freePort();
  const child = spawn('sipp', ['-sn', 'uas', '-rtp_echo', '-i', '127.0.0.1', '-p', String(port),
    '-mi', '127.0.0.1', '-mp', String(mediaPort), '-nostdin', '-t', 'u1'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  // sipp repaints its statistics screen to stdout every second: keep only the tail.
  let tail = '';
  const keep = (d) => { tail = (tail + d).slice(-20000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const done = new Promise((r) => child.once('exit', () => { exited = true; r(); }));
  await sleep(500);
  if (exited) throw new Error(`sipp exited at startup:\n${tail}`);
  return {
    port, mediaPort, pid: child.pid, running: () => !exited, output: () => tail,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    },
  };
}

// ---- the page side: one WebSocket session, K RTCPeerConnections ---------------------------

// Installs window.bench in the page. Every call shares the one fake-microphone track (one
// getUserMedia), and the session's messages are routed to calls by call_id.
async function pageInit(page, wsUrl) {
  await page.evaluate(async (url) => {
    const b = { calls: new Map(), done: new Set(), stray: [] };
    window.bench = b;
    // No audio processing: the tone must come back at the level it left.
    b.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    b.track = b.stream.getAudioTracks()[0];
    b.ctx = new AudioContext();
    b.ws = new WebSocket(url);
    b.send = (m) => b.ws.send(JSON.stringify(m));
    let welcomed;
    const welcome = new Promise((resolve, reject) => {
      welcomed = resolve;
      b.ws.onerror = () => reject(new Error('websocket error'));
    });
    b.ws.onclose = (e) => { b.closed = `${e.code} ${e.reason}`; };
    b.ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'welcome') return welcomed(m);
      if (m.type === 'ping') return b.send({ type: 'pong', id: m.id });
      if (m.type === 'pong') return undefined;
      const c = m.call_id !== undefined ? b.calls.get(m.call_id) : undefined;
      if (!c) {
        // The server confirms our own hangups with a hangup of its own: not news.
        if (!b.done.has(m.call_id)) b.stray.push(e.data.slice(0, 200));
        return undefined;
      }
      if (m.type === 'candidate') {
        if (c.remoteSet) { if (m.candidate) c.pc.addIceCandidate(m.candidate).catch(() => {}); } else c.pending.push(m.candidate);
      } else if (m.type === 'answered') {
        c.answered(m);
      } else if (m.type === 'hangup' || m.type === 'error') {
        c.ended = `${m.type} ${m.code ?? ''} ${m.reason ?? m.message ?? ''}`.trim();
        c.failed(new Error(`${c.id}: ${c.ended}`));
        c.endedEarly(new Error(`${c.id}: ${c.ended}`));
      }
      return undefined;
    };
    await welcome;
    // The server closes a session after session_idle_timeout (90 s) without a message, and a
    // measurement window sends none: ping like the web dialer does.
    let pingId = 1000;
    b.pinger = setInterval(() => { if (b.ws.readyState === 1) b.send({ type: 'ping', id: pingId++ }); }, 20000);

    // Places one call and resolves once the peer connection (ICE + DTLS) is connected.
    b.startCall = async (callId, to, listen) => {
      const c = { id: callId, pending: [], remoteSet: false, ended: null };
      b.calls.set(callId, c);
      const settled = new Promise((resolve, reject) => { c.answered = resolve; c.failed = reject; });
      // A hangup after `answered` (while ICE/DTLS still run) must end the wait too.
      const endedEarly = new Promise((_, reject) => { c.endedEarly = reject; });
      endedEarly.catch(() => {});
      settled.catch(() => {}); // raced below; a rejection after a timeout is not news
      c.pc = new RTCPeerConnection();
      c.pc.addTrack(b.track, b.stream);
      c.remote = new MediaStream();
      c.pc.ontrack = (e) => c.remote.addTrack(e.track);
      c.pc.onicecandidate = (e) => {
        if (!c.ended) b.send({ type: 'candidate', call_id: callId, candidate: e.candidate ? e.candidate.toJSON() : null });
      };
      const offer = await c.pc.createOffer();
      await c.pc.setLocalDescription(offer);
      b.send({ type: 'call', call_id: callId, to, sdp: offer.sdp });
      const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${callId}: ${what} within ${ms} ms`)), ms));
      const answered = await Promise.race([settled, timeout(20000, 'no answered')]);
      c.codec = answered.codec;
      await c.pc.setRemoteDescription({ type: 'answer', sdp: answered.sdp });
      c.remoteSet = true;
      for (const cand of c.pending) if (cand) await c.pc.addIceCandidate(cand).catch(() => {});
      c.pending = [];
      await Promise.race([
        new Promise((resolve, reject) => {
          const check = () => {
            if (c.pc.connectionState === 'connected') resolve();
            else if (c.pc.connectionState === 'failed') reject(new Error(`${callId}: connection failed`));
          };
          c.pc.onconnectionstatechange = check;
          check();
        }),
        endedEarly,
        timeout(20000, 'not connected'),
      ]);
      if (listen) {
        // Remote audio reaches WebAudio only while it also plays in a media element (never
        // muted: that would zero the output; the browser runs with --mute-audio instead).
        // Only the sampled calls get one, to keep the browser's load down.
        c.audio = new Audio();
        c.audio.srcObject = c.remote;
        c.audio.play().catch(() => {});
        c.analyser = b.ctx.createAnalyser();
        c.analyser.fftSize = 8192;
        b.ctx.createMediaStreamSource(c.remote).connect(c.analyser);
      }
      return c.codec;
    };

    // Starts `ids` with at most `parallel` call setups in flight.
    b.startCalls = async (ids, to, listenIds, parallel) => {
      const t0 = performance.now();
      const queue = [...ids];
      const errors = [];
      const codecs = {};
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          try {
            const codec = await b.startCall(id, to, listenIds.includes(id));
            codecs[codec] = (codecs[codec] || 0) + 1;
          } catch (err) { errors.push(String(err.message || err)); }
        }
      };
      await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
      if (b.ctx.state !== 'running') await b.ctx.resume().catch(() => {});
      return { ms: performance.now() - t0, errors, codecs };
    };

    // Per-call RTP counters from getStats (audio inbound-rtp / outbound-rtp).
    b.stats = async (ids) => {
      const out = {};
      for (const id of ids) {
        const c = b.calls.get(id);
        const s = { received: 0, lost: 0, sent: 0, state: c.pc.connectionState, ended: c.ended };
        (await c.pc.getStats()).forEach((r) => {
          if (r.kind !== 'audio') return;
          if (r.type === 'inbound-rtp') { s.received += r.packetsReceived || 0; s.lost += r.packetsLost || 0; }
          if (r.type === 'outbound-rtp') s.sent += r.packetsSent || 0;
        });
        out[id] = s;
      }
      return out;
    };

    // The loudest bin of each sampled call's remote audio.
    b.tones = (ids) => ids.map((id) => {
      const c = b.calls.get(id);
      const bins = new Float32Array(c.analyser.frequencyBinCount);
      c.analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      return { id, hz: (best * b.ctx.sampleRate) / c.analyser.fftSize, db: bins[best] };
    });

    b.hangupAll = () => {
      for (const c of b.calls.values()) {
        if (!c.ended) b.send({ type: 'hangup', call_id: c.id });
        c.ended = c.ended || 'hung up';
        c.pc.close();
        if (c.audio) { c.audio.srcObject = null; }
        b.done.add(c.id);
      }
      b.calls.clear();
    };
  }, wsUrl);
}

// The sampled calls: spread over the K calls (first, last, and evenly in between), so a
// problem that only hits late calls (port range, worker balance) shows up too.
function sampleIds(ids, n) {
  if (ids.length <= n) return [...ids];
  if (n === 1) return [ids[0]];
  const out = new Set();
  for (let i = 0; i < n; i++) out.add(ids[Math.round((i * (ids.length - 1)) / (n - 1))]);
  return [...out];
}

async function healthz(srv) {
  const r = await fetch(`${srv.httpUrl}/healthz`);
  return r.json();
}

async function waitNoCalls(srv, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const h = await healthz(srv);
    if (h.calls === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

function snapshot(srv, sipp) {
  return {
    t: process.hrtime.bigint(),
    tabphone: cpuSeconds(srv.child.pid),
    browser: browserCpuSeconds([srv.child.pid, sipp.pid]),
    sipp: cpuSeconds(sipp.pid),
    host: hostJiffies(),
  };
}

const fmt = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const pad = (s, n) => String(s).padStart(n);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  assertInsideTestNamespace();

  const srv = await startServer({ config: { log: { level: 'info' } } });
  const sipp = await startEchoUas();
  const browser = await launchBrowser({ toneHz: TONE_HZ });
  const results = [];
  let page;
  try {
    page = await browser.newPage();
    await page.goto(`${srv.httpsUrl}/favicon.svg`); // any page of the server's origin (/ws checks Origin)
    await pageInit(page, srv.wsUrl);
    const to = `sip:bench@127.0.0.1:${sipp.port}`;
    const cores = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) || []).length;

    console.log(`# tabphone pid ${srv.child.pid} (${srv.child.spawnfile}), ${cores} cores; far end: sipp -sn uas -rtp_echo on 127.0.0.1:${sipp.port}, dialing ${to}`);
    console.log(`# windows of ${opts.seconds} s; calls ${opts.calls.join(', ')}; tone sampled on up to ${opts.sample} calls each`);

    // Idle baseline: same page and session, no calls, same window length.
    await sleep(2000);
    const rssIdle = rssMB(srv.child.pid);
    const i0 = snapshot(srv, sipp);
    await sleep(opts.seconds * 1000);
    const i1 = snapshot(srv, sipp);
    const idleWall = Number(i1.t - i0.t) / 1e9;
    const idleRate = (i1.tabphone - i0.tabphone) / idleWall; // CPU s per wall s
    const idle = {
      tabphonePct: idleRate * 100,
      browserPct: ((i1.browser - i0.browser) / idleWall) * 100,
      sippPct: ((i1.sipp - i0.sipp) / idleWall) * 100,
      hostPct: ((i1.host.busy - i0.host.busy) / (i1.host.total - i0.host.total)) * 100,
    };
    console.log(`# idle baseline: tabphone ${fmt(idleRate * 100, 2)} % of a core (${fmt(i1.tabphone - i0.tabphone, 2)} CPU s in ${fmt(idleWall, 1)} s), RSS ${fmt(rssIdle, 1)} MB; host ${fmt(idle.hostPct, 1)} % busy`);

    let callSeq = 0;
    for (const k of opts.calls) {
      const ids = Array.from({ length: k }, () => `b${++callSeq}`);
      const listen = sampleIds(ids, opts.sample);
      process.stdout.write(`# ${k} call(s): setting up... `);
      const setup = await page.evaluate(({ ids, to, listen, parallel }) => window.bench.startCalls(ids, to, listen, parallel),
        { ids, to, listen, parallel: opts.parallel });
      const up = k - setup.errors.length;
      console.log(`${up}/${k} connected in ${fmt(setup.ms / 1000, 2)} s, codecs ${JSON.stringify(setup.codecs)}`);
      for (const e of setup.errors.slice(0, 5)) console.log(`#   setup error: ${e}`);
      const row = { k, up, setupS: setup.ms / 1000 };
      results.push(row);
      if (up === 0) { row.note = 'no call connected'; await page.evaluate(() => window.bench.hangupAll()); continue; }
      // Only calls that are up count (a failed setup is reported above, not averaged in).
      const liveIds = await page.evaluate((ids) => ids.filter((id) => {
        const c = window.bench.calls.get(id);
        return c && !c.ended && c.pc.connectionState === 'connected';
      }), ids);

      await sleep(opts.settle * 1000); // jitter buffers fill, the tone reaches the analysers
      const s0 = await page.evaluate((ids) => window.bench.stats(ids), liveIds);
      const a = snapshot(srv, sipp);
      await sleep(opts.seconds * 1000);
      const b = snapshot(srv, sipp);
      const s1 = await page.evaluate((ids) => window.bench.stats(ids), liveIds);
      const rssK = rssMB(srv.child.pid);
      const sampled = listen.filter((id) => liveIds.includes(id));
      const tones = await page.evaluate((ids) => window.bench.tones(ids), sampled);
      const h = await healthz(srv);

      const wall = Number(b.t - a.t) / 1e9;
      const n = liveIds.length;
      const cpu = b.tabphone - a.tabphone;
      row.n = n;
      row.cpuPerCallMin = (cpu - idleRate * wall) / (n * (wall / 60));
      row.cpuRawPerCallMin = cpu / (n * (wall / 60));
      row.tabphonePct = (cpu / wall) * 100;
      row.browserPct = ((b.browser - a.browser) / wall) * 100;
      row.sippPct = ((b.sipp - a.sipp) / wall) * 100;
      row.hostPct = ((b.host.busy - a.host.busy) / (b.host.total - a.host.total)) * 100;
      row.rssPerCall = (rssK - rssIdle) / n;
      row.rssK = rssK;
      let lost = 0, received = 0, sent = 0, ended = 0, notConnected = 0;
      for (const id of liveIds) {
        lost += s1[id].lost - s0[id].lost;
        received += s1[id].received - s0[id].received;
        sent += s1[id].sent - s0[id].sent;
        if (s1[id].ended) ended++;
        else if (s1[id].state !== 'connected') notConnected++;
      }
      row.lossPct = lost + received > 0 ? (100 * lost) / (lost + received) : NaN;
      row.echoGapPct = sent > 0 ? (100 * (sent - received)) / sent : NaN;
      row.pps = received / wall / n;
      row.toneOk = tones.filter((t) => Math.abs(t.hz - TONE_HZ) <= TONE_TOLERANCE_HZ && t.db > TONE_MIN_DB).length;
      row.toneN = tones.length;
      row.tones = tones;
      row.dropped = ended + notConnected;
      row.serverCalls = h.calls;
      console.log(`#   window ${fmt(wall, 1)} s: tabphone ${fmt(cpu, 2)} CPU s, ${h.calls} calls on the server, ` +
        `sent ${sent} / received ${received} / lost ${lost} packets, ${fmt(row.pps, 1)} pkt/s per call received; ` +
        `tones ${tones.map((t) => `${t.id}:${fmt(t.hz, 0)}Hz@${fmt(t.db, 0)}dB`).join(' ')}` +
        (row.dropped ? `; ${row.dropped} call(s) ended or lost connection during the window` : ''));

      await page.evaluate(() => window.bench.hangupAll());
      if (!(await waitNoCalls(srv))) console.log('#   warning: the server still holds calls 20 s after hanging up');
      await sleep(1000);
    }

    // ---- report -------------------------------------------------------------------------
    console.log('');
    console.log(`idle baseline: tabphone ${fmt(idleRate * 60, 4)} CPU s per minute (${fmt(idleRate * 100, 2)} % of one core), RSS ${fmt(rssIdle, 1)} MB; subtracted below`);
    console.log('');
    console.log('calls  cpu_s/call-min  rss_MB/call  loss_%  tone_ok');
    for (const r of results) {
      if (r.n === undefined) { console.log(`${pad(r.k, 5)}  ${r.note}`); continue; }
      const calls = r.n === r.k ? `${r.k}` : `${r.n}/${r.k}`;
      console.log(`${pad(calls, 5)}  ${pad(fmt(r.cpuPerCallMin, 4), 14)}  ${pad(fmt(r.rssPerCall, 3), 11)}  ${pad(fmt(r.lossPct, 3), 6)}  ${pad(`${r.toneOk}/${r.toneN}`, 7)}`);
    }
    console.log('');
    console.log('calls  cpu_s/call-min(raw)  echo_gap_%  pkt/s/call  tabphone_%cpu  browser_%cpu  sipp_%cpu  host_busy_%  rss_MB  setup_s  dropped');
    console.log(` idle  ${pad('', 19)}  ${pad('', 10)}  ${pad('', 10)}  ${pad(fmt(idle.tabphonePct, 1), 13)}  ` +
      `${pad(fmt(idle.browserPct, 1), 12)}  ${pad(fmt(idle.sippPct, 1), 9)}  ${pad(fmt(idle.hostPct, 1), 11)}  ${pad(fmt(rssIdle, 1), 6)}`);
    for (const r of results) {
      if (r.n === undefined) continue;
      console.log(`${pad(r.n, 5)}  ${pad(fmt(r.cpuRawPerCallMin, 4), 19)}  ${pad(fmt(r.echoGapPct, 3), 10)}  ${pad(fmt(r.pps, 1), 10)}  ` +
        `${pad(fmt(r.tabphonePct, 1), 13)}  ${pad(fmt(r.browserPct, 1), 12)}  ${pad(fmt(r.sippPct, 1), 9)}  ${pad(fmt(r.hostPct, 1), 11)}  ` +
        `${pad(fmt(r.rssK, 1), 6)}  ${pad(fmt(r.setupS, 2), 7)}  ${pad(r.dropped, 7)}`);
    }
    console.log('');
    console.log('# cpu: tabphone utime+stime over the window minus the idle rate, per call-minute; rss: (VmRSS with K calls - idle VmRSS) / K;');
    console.log('# loss: inbound-rtp packetsLost / (lost + received), summed over calls; echo_gap: (sent - received) / sent over the echo loop;');
    console.log(`# tone_ok: sampled calls whose remote audio peaked at ${TONE_HZ} +- ${TONE_TOLERANCE_HZ} Hz above ${TONE_MIN_DB} dB; %cpu columns are % of one core, host_busy of all ${cores}.`);
    const stray = await page.evaluate(() => window.bench.stray.slice(0, 5));
    if (stray.length) console.log(`# messages for no known call: ${stray.join(' | ')}`);
    // The browser asks for /favicon.ico on its own; the server has only favicon.svg.
    const errors = browser.errors.filter((e) => !/favicon\.ico|404 \(Not Found\)/.test(e));
    if (errors.length) console.log(`# browser errors: ${errors.slice(0, 5).join(' | ')}`);
  } finally {
    await page?.evaluate(() => window.bench?.hangupAll()).catch(() => {});
    await browser.close();
    await sipp.stop();
    await srv.stop();
  }
}

main().catch((err) => {
  console.error(`bench failed: ${err.stack || err}`);
  process.exit(1);
});
