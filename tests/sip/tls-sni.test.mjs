// tls-sni.test.mjs: TLS toward the provider names the host of each connection — SNI in the
// ClientHello, and the certificate checked against that host (not against any TLS host we use).
// Peers: Kamailio's TLS module with per-SNI server profiles, and a Node TLS server that records
// the server name it was asked for. Certificates are made here with the openssl CLI; names
// resolve through a dnsmasq on loopback ([sip] dns_server). Run inside a namespace:
//   TABPHONE_BIN=... CALL_PROBE=... tests/e2e/run.sh sip/tls-sni.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { startServer } from '../lib/server.mjs';
import { SignalClient, settledRegistration } from '../lib/client.mjs';
import { freePort, repoRoot, startKamailio } from '../lib/sip-peers.mjs';
import { startDns } from '../lib/dns.mjs';
import { startProbe, writeProbeConfig } from '../lib/call-probe.mjs';

// sofia-sip 1.12.11 leaks every TLS connection's SSL object (see tests/lsan.supp); the
// suppression matches only with full stacks through OpenSSL, which has no frame pointers.
const TLS_ENV = { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? 'detect_leaks=1'}:fast_unwind_on_malloc=0`,
  LSAN_OPTIONS: `suppressions=${path.join(repoRoot, 'tests', 'lsan.supp')}:print_suppressions=0` };
const PASSWORDS = { alice: 'alice-Sni-1', bob: 'bob-Sni-2' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A test CA and certificates signed by it: certs maps an id to its subjectAltName list, e.g.
 * { pbx: ['DNS:pbx.example.test'] } (CN = the first name), or to { cn, san }. Returns { dir, ca,
 * cert(id), key(id) }. */
function makePki(certs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-sni-pki-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tabphone SNI test CA');
  for (const [id, spec] of Object.entries(certs)) {
    const san = Array.isArray(spec) ? spec : spec.san;
    const cn = Array.isArray(spec) ? san[0].replace(/^\w+:/, '') : spec.cn;
    ssl('req', ...ec, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${cn}`);
    fs.writeFileSync(path.join(dir, `${id}.cnf`), `subjectAltName=${san.join(',')}\n`);
    ssl('x509', '-req', '-in', `${id}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${id}.crt`, '-days', '2', '-extfile', `${id}.cnf`);
  }
  const p = (name) => path.join(dir, name);
  return { dir, ca: p('ca.crt'), cert: (id) => p(`${id}.crt`), key: (id) => p(`${id}.key`) };
}

/** A bare TLS server (no SIP) presenting certificate id; seen() lists the server name (SNI) of
 * every handshake that completed, false for none. */
async function startSniRecorder(pki, id) {
  const names = [];
  const server = tls.createServer({ cert: fs.readFileSync(pki.cert(id)), key: fs.readFileSync(pki.key(id)) },
    (socket) => { names.push(socket.servername); socket.on('error', () => {}); socket.end(); });
  server.on('tlsClientError', () => {});
  const sockets = new Set();
  server.on('connection', (socket) => { sockets.add(socket); socket.once('close', () => sockets.delete(socket)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    seen: () => names,
    async handshake(ms = 5000) {
      for (let t = 0; t < ms && names.length === 0; t += 50) await sleep(50);
      return names[0];
    },
    stop() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}

/**
 * Kamailio (tests/sip/kamailio-tls.cfg) whose TLS listener presents certificate `fallback` to a
 * client that sends no SNI (or an unknown one), and certificate `sni` only to a client that asks
 * for serverName.
 */
async function startSniKamailio(pki, { fallback, sni, serverName }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-sni-kam-'));
  const tlsPort = await freePort();
  const profile = (name) => `method = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n` +
    `certificate = ${pki.cert(name)}\nprivate_key = ${pki.key(name)}\n`;
  let cfg = `[server:default]\n${profile(fallback)}\n`;
  if (sni) cfg += `[server:any]\n${profile(sni)}server_name = ${serverName}\nserver_name_mode = 0\nserver_id = ${serverName}\n\n`;
  cfg += '[client:default]\nverify_certificate = no\nrequire_certificate = no\n';
  fs.writeFileSync(path.join(dir, 'tls.cfg'), cfg);
  const kam = await startKamailio({ users: PASSWORDS, template: 'kamailio-tls.cfg', uas: '127.0.0.1:9',
    vars: { TLSPORT: tlsPort, TLSCFG: path.join(dir, 'tls.cfg') } });
  return { ...kam, tlsPort, async stop() { await kam.stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

describe('TLS names the host of each connection', { concurrency: false }, () => {
  let pki, dns, sniKam, aKam, bKam, wildKam, cnKam;
  before(async () => {
    pki = makePki({
      pbx: ['DNS:pbx.example.test'], fallback: ['DNS:default.example.test'], a: ['DNS:a.example.test'],
      wild: ['DNS:*.example.test'], ip: ['IP:127.0.0.1'],
      // Valid for a. only: RFC 6125 ignores the CN when there is a subjectAltName.
      cnb: { cn: 'b.example.test', san: ['DNS:a.example.test'] },
    });
    // Presents pbx.example.test's certificate only when asked for it by SNI.
    sniKam = await startSniKamailio(pki, { fallback: 'fallback', sni: 'pbx', serverName: 'pbx.example.test' });
    // Two providers; the second one's certificate names the first one, not itself.
    aKam = await startSniKamailio(pki, { fallback: 'a' });
    bKam = await startSniKamailio(pki, { fallback: 'a' });
    wildKam = await startSniKamailio(pki, { fallback: 'wild' });
    cnKam = await startSniKamailio(pki, { fallback: 'cnb' });
    dns = await startDns({
      hosts: { 'pbx.example.test': '127.0.0.1', 'a.example.test': '127.0.0.1', 'b.example.test': '127.0.0.1',
        'c.example.test': '127.0.0.1' },
      // sips:…@srv.example.test is served by a.example.test, whose certificate does not name the
      // domain srv.example.test.
      srv: [{ name: '_sips._tcp.srv.example.test', target: 'a.example.test', port: aKam.tlsPort }],
    });
  });
  after(async () => {
    for (const kam of [sniKam, aKam, bKam, wildKam, cnKam]) await kam?.stop();
    await dns?.stop();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const sip = async (extra = {}) => ({ dns_server: dns.server, tls_ca_file: pki.ca, tls_port: await freePort(), ...extra });
  const tlsAccount = (user, host, port) => ({ uri: `sip:${user}@${host}`, password: PASSWORDS[user],
    registrar: `${host}:${port}`, transport: 'tls' });

  test('SNI names the registrar, so a server with one certificate per name presents the right one', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'pbx.example.test', sniKam.tlsPort) } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.ok(sniKam.registers().some((r) => r.proto === 'tls' && r.user === 'alice'));
    } finally {
      await srv.stop();
    }
  });

  test('the server sees the host name as SNI', async () => {
    const rec = await startSniRecorder(pki, 'pbx');
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'pbx.example.test', rec.port) } });
    try {
      assert.equal(await rec.handshake(), 'pbx.example.test', srv.logs().slice(-2000));
    } finally {
      await srv.stop();
      await rec.stop();
    }
  });

  test('an IP-literal registrar gets no SNI and is checked against the certificate\'s IP address', async () => {
    const rec = await startSniRecorder(pki, 'ip');
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', '127.0.0.1', rec.port) } });
    try {
      assert.equal(await rec.handshake(), false, srv.logs().slice(-2000));
    } finally {
      await srv.stop();
      await rec.stop();
    }
  });

  test('an IP-literal registrar whose certificate names only a host name is refused', async () => {
    const rec = await startSniRecorder(pki, 'pbx');
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', '127.0.0.1', rec.port) } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'failed', JSON.stringify(reg));
      assert.match(reg.reason, /^TLS certificate of 127\.0\.0\.1:\d+ does not name 127\.0\.0\.1 \(IP address mismatch\)/);
      assert.deepEqual(rec.seen(), []);
    } finally {
      await srv.stop();
      await rec.stop();
    }
  });

  test('each connection is checked against its own host: a certificate for a. does not do for b.', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'a.example.test', aKam.tlsPort),
      'account bob': tlsAccount('bob', 'b.example.test', bKam.tlsPort) } });
    try {
      const a = await settledRegistration(srv, 'alice');
      assert.equal(a.state, 'registered', JSON.stringify(a));
      const b = await settledRegistration(srv, 'bob');
      assert.equal(b.state, 'failed', JSON.stringify(b));
      assert.match(b.reason, /^TLS certificate of b\.example\.test:\d+ does not name b\.example\.test \(hostname mismatch\)/);
      assert.equal(bKam.registers().length, 0);
      assert.match(srv.logs(), /WARN .*peer=127\.0\.0\.1:\d+ TLS certificate of b\.example\.test:\d+ does not name b\.example\.test/);
    } finally {
      await srv.stop();
    }
  });

  test('a failure is reported for its own host only: a refused certificate is not blamed on another provider', async () => {
    // bob's TLS handshake fails (certificate for a.), carol's provider does not answer at all,
    // at the same moment: each registration names its own cause.
    const deadPort = await freePort();
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account bob': tlsAccount('bob', 'b.example.test', bKam.tlsPort),
      'account carol': { ...tlsAccount('alice', 'c.example.test', deadPort) } } });
    try {
      const [b, c] = await Promise.all([settledRegistration(srv, 'bob'), settledRegistration(srv, 'carol')]);
      assert.equal(b.state, 'failed', JSON.stringify(b));
      assert.match(b.reason, /^TLS certificate of b\.example\.test:\d+ does not name b\.example\.test \(hostname mismatch\)/);
      assert.equal(c.state, 'failed', JSON.stringify(c));
      assert.doesNotMatch(c.reason, /TLS certificate/, JSON.stringify(c));
      assert.match(c.reason, /c\.example\.test/, JSON.stringify(c));
    } finally {
      await srv.stop();
    }
  });

  test('two names on one address and port: b. does not ride on the connection opened for a.', async () => {
    const before = aKam.registers().length;
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'a.example.test', aKam.tlsPort),
      'account bob': tlsAccount('bob', 'b.example.test', aKam.tlsPort) } });
    try {
      const a = await settledRegistration(srv, 'alice');
      assert.equal(a.state, 'registered', JSON.stringify(a));
      const b = await settledRegistration(srv, 'bob');
      assert.equal(b.state, 'failed', JSON.stringify(b));
      assert.match(b.reason, /^TLS certificate of b\.example\.test:\d+ does not name b\.example\.test \(hostname mismatch\)/);
      assert.deepEqual(aKam.registers().slice(before).filter((r) => /bob/.test(r.contact) || r.user === 'bob'), []);
    } finally {
      await srv.stop();
    }
  });

  test('nor later, once that connection is verified (its CN says b., its subjectAltName only a.)', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'a.example.test', cnKam.tlsPort),
      'account bob': tlsAccount('bob', 'b.example.test', cnKam.tlsPort) } });
    const c = await SignalClient.connect(srv.wsUrl);
    try {
      await c.next('welcome');
      const a = await settledRegistration(srv, 'alice');
      assert.equal(a.state, 'registered', JSON.stringify(a));
      // bob fails at once, then tries again 5 s later, while alice's connection is up.
      const bob = (state) => (m) => m.type === 'registration' && m.account === 'bob' && m.state === state;
      await c.next((m) => bob('registering')(m) && m.reason === 'retrying', 8000);
      const retried = await c.next(bob('failed'), 3000);
      assert.match(retried.reason, /^TLS certificate of b\.example\.test:\d+ does not name b\.example\.test \(hostname mismatch\)/);
      assert.deepEqual(cnKam.registers().filter((r) => /bob/.test(r.contact) || r.user === 'bob'), []);
    } finally {
      await c.close();
      await srv.stop();
    }
  });

  test('a call through a TLS proxy whose certificate names another host ends with that reason', async () => {
    const conf = writeProbeConfig({ sipPort: await freePort(), direct: false,
      sipExtra: `tls_port = ${await freePort()}\ndns_server = ${dns.server}\ntls_ca_file = ${pki.ca}`,
      accounts: { alice: { uri: 'sip:alice@b.example.test', proxy: `b.example.test:${bKam.tlsPort}`,
        transport: 'tls', register: 'no' } } });
    try {
      const r = await startProbe(['--config', conf, '--account', 'alice', '--to', 'sip:bob@b.example.test']).done;
      const ended = r.events.find((e) => e.type === 'ended');
      assert.ok(ended, r.stdout + r.stderr.slice(-2000));
      assert.equal(ended.code, 503);
      assert.match(ended.reason, /^TLS certificate of b\.example\.test:\d+ does not name b\.example\.test \(hostname mismatch\)/);
      assert.doesNotMatch(bKam.output(), /TPREQ method=INVITE/);
    } finally {
      fs.rmSync(path.dirname(conf), { recursive: true, force: true });
    }
  });

  test('a domain found through SRV: the certificate must name the domain, not the SRV target (RFC 5922)', async () => {
    const before = aKam.registers().length;
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': { uri: 'sips:alice@srv.example.test', password: PASSWORDS.alice } } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'failed', JSON.stringify(reg));
      assert.match(reg.reason, /^TLS certificate of srv\.example\.test:\d+ does not name srv\.example\.test \(hostname mismatch\)/);
      assert.equal(aKam.registers().length, before);
    } finally {
      await srv.stop();
    }
  });

  test('a wildcard certificate (*.example.test) does for pbx.example.test', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(),
      'account alice': tlsAccount('alice', 'pbx.example.test', wildKam.tlsPort) } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
    } finally {
      await srv.stop();
    }
  });
});
