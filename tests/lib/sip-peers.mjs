// sip-peers: real SIP peers on 127.0.0.1 for tests (Kamailio registrar, sipp scenarios).
//
//   const kam = await startKamailio({ users: { alice: 'alice-secret' } });
//   kam.port; kam.output(); kam.registers(); await kam.stop();
//   const uas = await startSipp('reg-423.xml');   // tests/sip/scenarios/<name> or a path
//   uas.port; uas.output(); uas.messages(); await uas.stop();
//
// Every peer listens on a free loopback port (UDP and TCP) and is killed by stop(); tests
// should call stop() in an after()/finally. Nothing here ever binds anything but 127.0.0.1.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
const kamailioTemplate = path.join(repoRoot, 'tests', 'sip', 'kamailio.cfg');
const scenarioDir = path.join(repoRoot, 'tests', 'sip', 'scenarios');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function bindUdp(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => resolve(null));
    sock.bind(port, '127.0.0.1', () => resolve(sock));
  });
}

function listenTcp(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A port free for both UDP and TCP on 127.0.0.1. */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = await listenTcp(0);
    const port = server.address().port;
    const udp = await bindUdp(port);
    await new Promise((resolve) => server.close(resolve));
    if (udp) {
      await new Promise((resolve) => udp.close(resolve));
      return port;
    }
  }
  throw new Error('no free loopback port');
}

function kamailioString(text) {
  return '"' + String(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function usersBlock(users) {
  return Object.entries(users)
    .map(([user, password]) => `if ($au == ${kamailioString(user)}) $var(pw) = ${kamailioString(password)};`)
    .join('\n\t');
}

function startProcess(command, args, cwd) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => { done = true; });
  return {
    child,
    exited,
    output: () => output,
    running: () => !done,
    async stop() {
      if (!done) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { if (!done) child.kill('SIGKILL'); }, 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

async function waitForTcp(port, proc, what) {
  for (let i = 0; i < 100; i++) {
    if (!proc.running()) throw new Error(`${what} exited:\n${proc.output()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port}:\n${proc.output()}`);
}

/**
 * Starts Kamailio (tests/sip/kamailio.cfg) as a digest-auth registrar on 127.0.0.1 UDP+TCP.
 * users: { name: password }. Returns { port, stop(), output(), registers() } where registers()
 * lists the REGISTERs it saw: { callId, cseq, expires, contact, user, proto }.
 */
export async function startKamailio({ users = {}, port } = {}) {
  port = port ?? await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-kamailio-'));
  const cfg = fs.readFileSync(kamailioTemplate, 'utf8')
    .replaceAll('@PORT@', String(port))
    .replace('@USERS@', usersBlock(users));
  const cfgPath = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgPath, cfg);
  const proc = startProcess('kamailio',
    ['-f', cfgPath, '-DD', '-E', '-m', '64', '-M', '8', '-Y', dir, '-w', dir], dir);
  await waitForTcp(port, proc, 'kamailio');
  await sleep(200); // UDP workers come up with the TCP listener; give them a moment
  return {
    port,
    output: proc.output,
    registers() {
      const re = /TPREG ci=(\S+) cseq=(\d+) expires=(\S*) contact=(.*) user=(\S+) proto=(\S+)/g;
      return [...proc.output().matchAll(re)].map((m) => ({
        callId: m[1], cseq: Number(m[2]), expires: m[3], contact: m[4], user: m[5], proto: m[6],
      }));
    },
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts sipp as a UAS running scenario (a file name in tests/sip/scenarios/ or a path) on
 * 127.0.0.1. args: extra sipp arguments (default: -m 1, UDP; a UAC adds -s USER HOST:PORT and
 * mayExit: true, as it may finish before startSipp returns). Returns { port, stop(), output(),
 * messages() } where messages() is sipp's message trace (-trace_msg).
 */
export async function startSipp(scenario, { port, args = ['-m', '1', '-t', 'u1'], mayExit = false } = {}) {
  port = port ?? await freePort();
  const file = scenario.includes('/') ? scenario : path.join(scenarioDir, scenario);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-sipp-'));
  const messageFile = path.join(dir, 'messages.log');
  const proc = startProcess('sipp', ['-sf', file, '-i', '127.0.0.1', '-p', String(port),
    '-trace_msg', '-message_file', messageFile, '-trace_err', '-error_file',
    path.join(dir, 'errors.log'), '-nostdin', ...args], dir);
  await sleep(400);
  // A UAC scenario (mayExit) can be over within the 400 ms: that is not a failure.
  if (!proc.running() && !mayExit) throw new Error(`sipp exited:\n${proc.output()}`);
  const read = (name) => {
    try { return fs.readFileSync(path.join(dir, name), 'utf8'); } catch { return ''; }
  };
  return {
    port,
    exited: proc.exited,
    output: () => proc.output() + read('errors.log'),
    messages: () => read('messages.log'),
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A UDP socket on 127.0.0.1 that swallows everything: a registrar that never answers. */
export async function startBlackhole({ port } = {}) {
  port = port ?? await freePort();
  const sock = await bindUdp(port);
  let received = 0;
  sock.on('message', () => { received++; });
  return { port, received: () => received, stop: () => new Promise((r) => sock.close(r)) };
}
