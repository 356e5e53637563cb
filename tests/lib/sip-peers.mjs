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
//
// Options for tests/sip/kamailio-tls.cfg: template (a file name in tests/sip/), tls: { cert, key }
// (PEM paths of the server certificate; the TLS port is returned as tlsPort), uas ("host:port"
// INVITEs are relayed to).
export async function startKamailio({ users = {}, port, template, tls, uas, vars = {} } = {}) {
  port = port ?? await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-kamailio-'));
  const templatePath = template ? path.join(repoRoot, 'tests', 'sip', template) : kamailioTemplate;
  let cfg = fs.readFileSync(templatePath, 'utf8')
    .replaceAll('@PORT@', String(port))
    .replace('@USERS@', usersBlock(users));
  if (tls) {
    const tlsCfg = path.join(dir, 'tls.cfg');
    fs.writeFileSync(tlsCfg, `[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n` +
      `require_certificate = no\ncertificate = ${tls.cert}\nprivate_key = ${tls.key}\n\n` +
      `[client:default]\nverify_certificate = no\nrequire_certificate = no\n`);
    cfg = cfg.replaceAll('@TLSPORT@', String(tlsPort)).replace('@TLSCFG@', tlsCfg);
  }
  if (uas) cfg = cfg.replaceAll('@UAS@', uas);
  // vars: any other @NAME@ placeholders of a template (e.g. kamailio-auth.cfg's @ALGORITHM@).
  for (const [name, value] of Object.entries(vars)) cfg = cfg.replaceAll(`@${name}@`, String(value));
  const cfgPath = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgPath, cfg);
  const proc = startProcess('kamailio',
    ['-f', cfgPath, '-DD', '-E', '-m', '64', '-M', '8', '-Y', dir, '-w', dir], dir);
  await waitForTcp(port, proc, 'kamailio');
  await sleep(200); // UDP workers come up with the TCP listener; give them a moment
  return {
    port,
    tlsPort,
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
 * messages() } where messages() is sipp's message trace (-trace_msg). host: the address sipp
 * binds ('::1' for IPv6 tests).
 */
export async function startSipp(scenario, { port, args = ['-m', '1', '-t', 'u1'], mayExit = false, host = '127.0.0.1' } = {}) {
  port = port ?? await freePort();
  const file = scenario.includes('/') ? scenario : path.join(scenarioDir, scenario);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-sipp-'));
  const messageFile = path.join(dir, 'messages.log');
  const proc = startProcess('sipp', ['-sf', file, '-i', host, '-p', String(port),
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

/**
 * A scripted SIP peer on 127.0.0.1 written in node, for what sipp cannot observe: it answers
 * every request with answer(request) (a status code, or null for no answer) and records what
 * arrived. proto: 'udp' or 'tcp'; host: '127.0.0.1' or '::1'. Returns { port, requests(), crlfs(),
 * connections(), stop() } where requests()
 * lists { method, text, via } and crlfs() counts bare CRLF keepalives (RFC 5626 "\r\n\r\n"
 * pings on TCP; "\r\n" datagrams on UDP).
 * A 200 to REGISTER echoes the Contact with expires=<Expires header or 600>. via(topVia) may
 * rewrite the top Via of every answer (e.g. add received=/rport= as a NAT would make a registrar).
 */
export async function startResponder({ proto = 'udp', port, answer = () => 200, host = '127.0.0.1', via = (v) => v } = {}) {
  port = port ?? await freePort();
  const requests = [];
  let crlfs = 0;
  const reply = (text) => {
    const head = text.split('\r\n\r\n')[0];
    const lines = head.split('\r\n');
    const method = lines[0].split(' ')[0];
    const header = (name) => lines.filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'))
      .map((l) => l.slice(l.indexOf(':') + 1).trim());
    requests.push({ method, text, via: header('Via')[0] ?? '' });
    if (method === 'ACK') return null;
    const status = answer({ method, text });
    if (!status) return null;
    const expires = header('Expires')[0] ?? '600';
    const contact = method === 'REGISTER' && header('Contact')[0] && status === 200
      ? [`Contact: ${header('Contact')[0]};expires=${expires}`] : [];
    const to = header('To')[0] ?? '';
    return [`SIP/2.0 ${status} ${status === 200 ? 'OK' : status === 503 ? 'Service Unavailable' : 'Whatever'}`,
      ...header('Via').map((v, i) => `Via: ${i === 0 ? via(v) : v}`), `From: ${header('From')[0] ?? ''}`,
      `To: ${to}${to.includes('tag=') ? '' : ';tag=responder'}`, `Call-ID: ${header('Call-ID')[0] ?? ''}`,
      `CSeq: ${header('CSeq')[0] ?? ''}`, ...contact, 'Content-Length: 0', '', ''].join('\r\n');
  };
  let connections = 0;
  if (proto === 'udp') {
    const sock = host === '127.0.0.1' ? await bindUdp(port) : await new Promise((resolve) => {
      const s6 = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s6.once('error', () => resolve(null));
      s6.bind(port, host, () => resolve(s6));
    });
    if (!sock) throw new Error(`udp port ${port} busy`);
    sock.on('message', (msg, rinfo) => {
      const text = msg.toString('latin1');
      if (/^\s*$/.test(text)) { crlfs++; return; }
      const out = reply(text);
      if (out) sock.send(Buffer.from(out, 'latin1'), rinfo.port, rinfo.address);
    });
    return { port, requests: () => requests, crlfs: () => crlfs, connections: () => connections,
      stop: () => new Promise((r) => sock.close(r)) };
  }
  const sockets = new Set();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        if (buf.startsWith('\r\n\r\n')) { crlfs++; buf = buf.slice(4); s.write('\r\n'); continue; }
        if (buf.startsWith('\r\n')) { buf = buf.slice(2); continue; }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const m = /content-length:\s*(\d+)/i.exec(buf.slice(0, end));
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < total) break;
        const out = reply(buf.slice(0, total));
        buf = buf.slice(total);
        if (out) s.write(out);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port,
    requests: () => requests,
    crlfs: () => crlfs,
    connections: () => connections,
    stop: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}
