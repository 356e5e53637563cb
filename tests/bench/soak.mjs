// Soak: C calls held for M minutes while a second loop churns short calls (setup, a few seconds
// of media, hangup) until N of them are done, all from one headless Chromium page through
// tabphone to a sipp far end that echoes RTP. Afterwards the server must be back where it
// started: no calls, no sessions, no media, RSS near its baseline, no sanitizer report.
//
//   scripts/soak [--calls 50] [--minutes 10] [--churn-total 2000] [--churn-parallel 20]
//                [--media-seconds 5] [--bin PATH | --asan]
//
// Run it through scripts/soak: that enters a fresh loopback-only network namespace (this file
// refuses to run outside one). It prints figures and a verdict; time never decides the
// verdict, only correctness does (calls lost or stuck, server not back to zero, RSS not back
// within 10 % of its baseline, a sanitizer report or a crash). Exit status 1 on a problem.
//
// Baseline RSS: taken after a short warm-up (a few calls set up and hung up), because the first
// calls allocate things that live as long as the process (OpenSSL and libnice state, worker
// pools, malloc arenas); the RSS of the idle process before any call is printed too.
// RSS after: read twice, as the kernel sees it and after malloc_trim(0) inside the server (via
// gdb): glibc keeps freed pages for reuse, so only the second tells whether the server still
// holds memory; the verdict uses it (the raw figure when gdb is missing).
import fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { startServer, freePort } from '../lib/server.mjs';
import { assertInsideTestNamespace, launchBrowser } from '../e2e/lib/browser.mjs';
import { installSoak } from './soak-page.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TONE_HZ = 440;
const TONE_TOLERANCE_HZ = 15;
const TONE_MIN_DB = -60;
const CHECK_EVERY_MS = 30000; // held calls are looked at (media still flowing?) this often
const RSS_TOLERANCE = 0.10;
const WARMUP_CALLS = 5;
const SIP_TRANSACTION_LINGER_MS = 34000;

function usage() {
  return 'usage: scripts/soak [--calls C] [--minutes M] [--churn-total N] [--churn-parallel P]\n' +
    '                    [--media-seconds S] [--bin PATH | --asan]\n' +
    '  defaults: --calls 50 --minutes 10 --churn-total 2000 --churn-parallel 20 --media-seconds 5';
}

function parseArgs(argv) {
  const o = { calls: 50, minutes: 10, churnTotal: 2000, churnParallel: 20, mediaSeconds: 5, holdParallel: 5 };
  const num = (a, v, min) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${a}: a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--calls') o.calls = Math.floor(num(a, val(), 0));
    else if (a === '--minutes') o.minutes = num(a, val(), 0.1);
    else if (a === '--churn-total') o.churnTotal = Math.floor(num(a, val(), 0));
    else if (a === '--churn-parallel') o.churnParallel = Math.floor(num(a, val(), 1));
    else if (a === '--media-seconds') o.mediaSeconds = num(a, val(), 1);
    else if (a === '-h' || a === '--help') { console.log(usage()); process.exit(0); }
    else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  return o;
}

// ---- /proc readers (as in tests/bench/calls.mjs) ------------------------------------------

const CLK_TCK = 100;
function cpuTimes(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK };
}
function statusMB(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) / 1024 : NaN;
}
const rssMB = (pid) => statusMB(pid, 'VmRSS');
// Where RSS sits: heap and stacks (RssAnon) versus mapped files (RssFile: code and data pages of
// the libraries, touched once and kept), and how many threads hold stacks.
function rssParts(pid) {
  const threads = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m);
  return `anon ${fmt(statusMB(pid, 'RssAnon'))} MB, file ${fmt(statusMB(pid, 'RssFile'))} MB, ${threads ? threads[1] : '?'} threads`;
}
// SOAK_SMAPS_DIR=dir keeps /proc/PID/smaps at the baseline and at the end, to see which mappings
// hold what is left; SOAK_HOOK=program is run (and waited for) at both points with the stage
// ("baseline" or "after") and the server's pid, e.g. to attach a heap profiler.
function keepSmaps(pid, name) {
  if (process.env.SOAK_HOOK) spawnSync(process.env.SOAK_HOOK, [name, String(pid)], { stdio: 'inherit' });
  const dir = process.env.SOAK_SMAPS_DIR;
  if (dir) fs.writeFileSync(`${dir}/${name}.smaps`, fs.readFileSync(`/proc/${pid}/smaps`)); // copyFileSync reads 0 bytes from /proc
}

// RSS once glibc's malloc has handed its free pages back (malloc_trim(0) called inside the
// process through gdb, when gdb is installed): tells memory the program still holds (a leak,
// a cache) from freed memory the allocator keeps for reuse. NaN when that is not possible.
function rssAfterTrimMB(pid) {
  const r = spawnSync('gdb', ['-p', String(pid), '-batch', '-nx', '-ex', 'call (int) malloc_trim(0)'],
    { encoding: 'utf8', timeout: 120000 });
  return r.status === 0 && /\$1 = 1|\$1 = 0/.test(r.stdout) ? rssMB(pid) : NaN;
}

// ---- the far end (as in tests/bench/calls.mjs) ---------------------------------------------

// sipp's built-in uas scenario answers every INVITE with PCMU and -rtp_echo returns every RTP
// packet to its source, so all calls share sipp's one media port.
async function startEchoUas() {
  const port = await freePort();
  const mediaPort = await freePort();
  const child = spawn('sipp', ['-sn', 'uas', '-rtp_echo', '-i', '127.0.0.1', '-p', String(port),
    '-mi', '127.0.0.1', '-mp', String(mediaPort), '-nostdin', '-t', 'u1'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d) => { tail = (tail + d).slice(-20000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const done = new Promise((r) => child.once('exit', () => { exited = true; r(); }));
  await sleep(500);
  if (exited) throw new Error(`sipp exited at startup:\n${tail}`);
  return {
    port, pid: child.pid, running: () => !exited, output: () => tail,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    },
  };
}

// ---- the server's own view ---------------------------------------------------------------

async function healthz(srv) {
  return (await fetch(`${srv.httpUrl}/healthz`)).json();
}

// /metrics as { "name{labels}": value }.
async function metrics(srv) {
  const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (\S+)$/);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function waitServerIdle(srv, { sessions = false, ms = 20000 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const h = await healthz(srv);
    if (h.calls === 0 && (!sessions || h.sessions === 0)) return h;
    if (Date.now() > deadline) return h;
    await sleep(250);
  }
}

// ---- figures -----------------------------------------------------------------------------

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
function quantiles(ms) {
  if (!ms.length) return 'n/a';
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))] / 1000;
  return `median ${fmt(q(0.5), 2)}, p95 ${fmt(q(0.95), 2)}, max ${fmt(s[s.length - 1] / 1000, 2)}`;
}
function addReasons(into, from) {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] || 0) + v;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  assertInsideTestNamespace();
  const problems = [];
  const reasons = {};

  // Limits that would refuse a soak's own traffic are raised: this measures endurance, the
  // limits have their own tests. info, not debug: the log of 2,000 calls stays small.
  const srv = await startServer({
    config: {
      server: { message_rate: 100000, max_calls_per_session: 10000, max_sessions_per_ip: 100 },
      log: { level: 'info' },
    },
  });
  const pid = srv.child.pid;
  // An AddressSanitizer build keeps freed memory in its quarantine (256 MB by default): its RSS
  // says nothing about leaks, LeakSanitizer's report at exit does.
  const asan = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libasan');
  let sipp, browser, page;
  const t0 = Date.now();
  try {
    sipp = await startEchoUas();
    browser = await launchBrowser({ toneHz: TONE_HZ });
    page = await browser.newPage();
    await page.goto(`${srv.httpsUrl}/favicon.svg`); // the server's origin (/ws checks Origin)
    await page.evaluate(installSoak);
    await page.evaluate(() => window.soak.init());
    await page.evaluate((url) => Promise.all([window.soak.open('hold', url), window.soak.open('churn', url)]), srv.wsUrl);
    const to = `sip:soak@127.0.0.1:${sipp.port}`;
    const cores = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) || []).length;
    console.log(`# soak: ${o.calls} calls held ${o.minutes} min + ${o.churnTotal} churn calls (${o.churnParallel} at a time, ` +
      `${o.mediaSeconds} s media each); tabphone pid ${pid} ${srv.child.spawnfile}; far end sipp -rtp_echo ${to}; ${cores} cores`);

    // ---- warm-up and baseline --------------------------------------------------------------
    await sleep(1000);
    const rssStart = rssMB(pid);
    const warm = await page.evaluate(({ to, n }) => window.soak.churn('churn', { total: n, parallel: n, mediaMs: 1000, to, prefix: 'w' }),
      { to, n: WARMUP_CALLS });
    if (warm.failed) console.log(`# warm-up: ${warm.failed}/${WARMUP_CALLS} failed: ${JSON.stringify(warm.reasons)}`);
    await waitServerIdle(srv);
    await sleep(3000);
    const rssBase = rssMB(pid);
    const cpu0 = cpuTimes(pid);
    const m0 = await metrics(srv);
    const tRun = Date.now();
    console.log(`# RSS idle ${fmt(rssStart)} MB, after ${WARMUP_CALLS} warm-up calls ${fmt(rssBase)} MB (the baseline: ${rssParts(pid)})`);
    keepSmaps(pid, 'baseline');

    // ---- held calls ------------------------------------------------------------------------
    const holdIds = Array.from({ length: o.calls }, (_, i) => `h${i + 1}`);
    const listenIds = o.calls ? [holdIds[0], holdIds[holdIds.length - 1]] : [];
    const hold = await page.evaluate(({ ids, to, parallel, listen }) => window.soak.holdStart('hold', ids, to, parallel, listen),
      { ids: holdIds, to, parallel: o.holdParallel, listen: listenIds });
    addReasons(reasons, hold.reasons);
    console.log(`# hold: ${hold.up.length}/${o.calls} calls up (setup s: ${quantiles(hold.setupMs)})`);

    // ---- churn, while the held calls run -----------------------------------------------------
    const churnDone = page.evaluate(({ to, total, parallel, mediaMs }) => window.soak.churn('churn', { total, parallel, mediaMs, to, prefix: 'c' }),
      { to, total: o.churnTotal, parallel: o.churnParallel, mediaMs: o.mediaSeconds * 1000 });
    churnDone.catch(() => {});
    let churn = null;
    churnDone.then((r) => { churn = r; });

    const holdEnd = Date.now() + o.minutes * 60000;
    const lostHold = new Map(); // id -> why (ended, disconnected)
    const silentHold = new Map(); // id -> number of check windows without a packet
    let holdRx = 0, holdLost = 0, holdSent = 0;
    let rssPeakSampled = rssBase;
    const alive = () => {
      rssPeakSampled = Math.max(rssPeakSampled, rssMB(pid));
      if (srv.child.exitCode !== null || srv.child.signalCode !== null) throw new Error(`tabphone exited during the run (${srv.child.exitCode ?? srv.child.signalCode})`);
      if (!sipp.running()) throw new Error(`sipp exited during the run:\n${sipp.output().slice(-2000)}`);
    };
    const progress = async (held) => {
      const st = await page.evaluate(() => window.soak.churnState);
      const h = await healthz(srv);
      const cpu = cpuTimes(pid);
      console.log(`# ${fmt((Date.now() - tRun) / 60000, 1)} min: ${held}churn ${st.ok + st.failed}/${o.churnTotal} done (${st.failed} failed); ` +
        `server calls ${h.calls}, sessions ${h.sessions}; RSS ${fmt(rssMB(pid))} MB; CPU ${fmt(cpu.user + cpu.system - cpu0.user - cpu0.system)} s`);
    };
    // Held calls: looked at every CHECK_EVERY_MS and once more at the end of the M minutes.
    for (let done = false; !done; done = holdEnd - Date.now() < 1000) {
      const wait = Math.min(CHECK_EVERY_MS, holdEnd - Date.now());
      for (const until = Date.now() + Math.max(0, wait); Date.now() < until;) {
        await sleep(Math.min(5000, until - Date.now()));
        alive();
      }
      const c = await page.evaluate(() => window.soak.holdCheck('hold'));
      holdRx += c.received; holdLost += c.lost; holdSent += c.sent;
      for (const e of [...c.ended, ...c.disconnected]) {
        const [id, why] = e.split(/: (.*)/s);
        if (!lostHold.has(id)) lostHold.set(id, why);
      }
      for (const id of c.silent) silentHold.set(id, (silentHold.get(id) || 0) + 1);
      await progress(`held ${c.live} live${c.silent.length ? ` (${c.silent.length} silent in the last window)` : ''}, `);
    }
    const tones = await page.evaluate(() => window.soak.tones('hold'));
    const holdUnconfirmed = await page.evaluate(() => window.soak.hangupAll('hold'));
    const holdMinutes = (Date.now() - tRun) / 60000;
    // The churn goes on alone if it has not reached its total yet.
    while (!churn) {
      for (const until = Date.now() + CHECK_EVERY_MS; !churn && Date.now() < until;) {
        await sleep(1000);
        alive();
      }
      if (!churn) await progress('');
    }
    churn = await churnDone;
    addReasons(reasons, churn.reasons);
    for (const why of lostHold.values()) addReasons(reasons, { [`hold: ended early: ${why}`]: 1 });

    // ---- back to zero? -----------------------------------------------------------------------
    const afterCalls = await waitServerIdle(srv);
    const sessionsInfo = await page.evaluate(() => window.soak.closeAll());
    const after = await waitServerIdle(srv, { sessions: true });
    const tEnd = Date.now();
    const cpu1 = cpuTimes(pid);
    // Completed SIP transactions live on for 64*T1 = 32 s (RFC 3261 timers D, J and K: sofia
    // keeps each to absorb retransmissions), and so do their messages: wait them out, as for the
    // workers freeing what the last calls held.
    await sleep(SIP_TRANSACTION_LINGER_MS);
    const rssAfter = rssMB(pid);
    const rssHwm = statusMB(pid, 'VmHWM');
    const rssTrimmed = rssAfterTrimMB(pid);
    const rssTrimmedParts = rssParts(pid);
    keepSmaps(pid, 'after');
    const m1 = await metrics(srv);

    // ---- report ------------------------------------------------------------------------------
    const heldToEnd = hold.up.length - lostHold.size;
    const stuckSilent = [...silentHold.entries()].filter(([id]) => !lostHold.has(id));
    const attempted = o.calls + churn.started;
    const completed = heldToEnd + churn.ok;
    const failed = attempted - completed;
    const wall = (tEnd - tRun) / 1000;
    const cpuUser = cpu1.user - cpu0.user, cpuSys = cpu1.system - cpu0.system;
    const callMinutes = hold.up.length * holdMinutes + (churn.ok * o.mediaSeconds) / 60;
    const toneOk = tones.filter((t) => Math.abs(t.hz - TONE_HZ) <= TONE_TOLERANCE_HZ && t.db > TONE_MIN_DB).length;
    const rssGrowth = (rssAfter - rssBase) / rssBase;

    console.log('');
    console.log(`soak: ${o.calls} held for ${fmt(holdMinutes, 1)} min + ${churn.started} churn calls (${o.churnParallel} parallel, ${o.mediaSeconds} s media); ${fmt(wall / 60, 1)} min in all`);
    console.log(`calls: ${attempted} attempted, ${completed} completed, ${failed} failed`);
    console.log(`  held:  ${hold.up.length}/${o.calls} set up, ${heldToEnd} held to the end, ${lostHold.size} lost early, ` +
      `${stuckSilent.length} with a silent ${CHECK_EVERY_MS / 1000} s window; echo ${holdRx} received / ${holdSent} sent, ${holdLost} lost; ` +
      `tone ${toneOk}/${tones.length} (${tones.map((t) => `${fmt(t.hz, 0)} Hz @ ${fmt(t.db, 0)} dB`).join(', ')})`);
    console.log(`  churn: ${churn.ok}/${churn.started} completed; setup s ${quantiles(churn.setupMs)}; ${churn.received} packets received, ${churn.lost} lost`);
    console.log(`  hold setup s: ${quantiles(hold.setupMs)}`);
    if (Object.keys(reasons).length) {
      console.log('  failures by reason:');
      for (const [k, v] of Object.entries(reasons).sort((a, b) => b[1] - a[1])) console.log(`    ${String(v).padStart(5)}  ${k}`);
    }
    const unconfirmed = holdUnconfirmed + churn.unconfirmed;
    console.log(`  hangups not confirmed by the server within 5 s: ${unconfirmed}`);
    console.log(`server afterwards: /healthz calls ${after.calls}, sessions ${after.sessions} ` +
      `(calls ${afterCalls.calls} once every call was hung up); tabphone_media_calls ${m1.tabphone_media_calls}`);
    console.log(`RSS MB: idle ${fmt(rssStart)}, baseline ${fmt(rssBase)} (after warm-up), peak ${fmt(Math.max(rssHwm, rssPeakSampled))} (VmHWM ${fmt(rssHwm)}, highest 5 s sample ${fmt(rssPeakSampled)}), ` +
      `after ${fmt(rssAfter)} (${rssGrowth >= 0 ? '+' : ''}${fmt(rssGrowth * 100)} % vs baseline), ` +
      `after malloc_trim(0) ${fmt(rssTrimmed)} (${fmt(((rssTrimmed - rssBase) / rssBase) * 100)} %: ${rssTrimmedParts})`);
    console.log(`CPU: tabphone ${fmt(cpuUser, 2)} s user + ${fmt(cpuSys, 2)} s system = ${fmt(cpuUser + cpuSys, 2)} s in ${fmt(wall, 0)} s ` +
      `(${fmt(((cpuUser + cpuSys) / wall) * 100)} % of one core); ${fmt((cpuUser + cpuSys) / callMinutes, 3)} CPU s per call-minute over ${fmt(callMinutes, 1)} call-minutes`);
    console.log('/metrics counters during the run (delta), and at the end:');
    for (const [k, v] of Object.entries(m1)) {
      if (!k.endsWith('_total')) continue;
      const d = v - (m0[k] || 0);
      if (v || d) console.log(`    ${k} ${v}${d !== v ? ` (+${d})` : ''}`);
    }
    const strays = sessionsInfo.map((s) => s.stray).reduce((a, b) => a + b, 0);
    if (strays) console.log(`# ${strays} message(s) arrived for calls the page no longer knew (late candidates after a hangup are normal)`);
    const errors = browser.errors.filter((e) => !/favicon\.ico|404 \(Not Found\)/.test(e));
    if (errors.length) console.log(`# browser errors: ${errors.slice(0, 5).join(' | ')}`);

    if (failed) problems.push(`${failed} call(s) failed`);
    if (stuckSilent.length) problems.push(`${stuckSilent.length} held call(s) went silent while connected`);
    if (unconfirmed) problems.push(`${unconfirmed} hangup(s) not confirmed`);
    if (after.calls !== 0 || after.sessions !== 0) problems.push(`server still holds ${after.calls} call(s), ${after.sessions} session(s)`);
    if (m1.tabphone_media_calls) problems.push(`${m1.tabphone_media_calls} media call(s) left on the workers`);
    // The verdict looks at what the program holds: glibc keeps freed pages of its arenas (the
    // media workers' too) mapped for reuse, so the raw RSS stays near its high-water mark after
    // a load peak without any leak. Without gdb the raw figure decides.
    const held = Number.isFinite(rssTrimmed) ? rssTrimmed : rssAfter;
    const heldGrowth = (held - rssBase) / rssBase;
    if (asan) {
      console.log('# RSS not judged: AddressSanitizer build (its quarantine holds freed memory); LeakSanitizer at exit decides');
    } else if (heldGrowth > RSS_TOLERANCE) {
      problems.push(`RSS ${fmt(heldGrowth * 100)} % above the baseline${Number.isFinite(rssTrimmed) ? ' after malloc_trim' : ''} (limit ${RSS_TOLERANCE * 100} %)`);
    }
  } catch (err) {
    problems.push(`run aborted: ${err.message}`);
    console.log(`soak aborted after ${fmt((Date.now() - t0) / 1000, 0)} s: ${err.stack || err}`);
  } finally {
    await page?.evaluate(() => Promise.all([...window.soak.sessions.keys()].map((n) => window.soak.hangupAll(n)))).catch(() => {});
    await browser?.close();
    await sipp?.stop();
    try {
      const r = await srv.stop('SIGTERM', 30000);
      console.log(`tabphone stopped: exit ${r.code ?? r.signal}; sanitizer: no report`);
      if (r.code !== 0) problems.push(`tabphone exit status ${r.code ?? r.signal}`);
    } catch (err) {
      console.log(String(err.message).split('\n').slice(0, 40).join('\n'));
      problems.push('sanitizer report (see above)');
    }
  }
  console.log(problems.length ? `verdict: PROBLEMS: ${problems.join('; ')}`
    : `verdict: OK (no call lost or stuck, server back to zero, ${asan ? 'no sanitizer report' : 'RSS within 10 %'})`);
  process.exitCode = problems.length ? 1 : 0;
}

main().catch((err) => {
  console.error(`soak failed: ${err.stack || err}`);
  process.exit(1);
});
