// transport.test.mjs: SIP over TLS (certificate verification, sips:, a call through a TLS
// proxy) against Kamailio's TLS module, and keepalives (CRLF on TCP/TLS, OPTIONS on UDP).
// Certificates are made by the test with the openssl CLI; names resolve through a dnsmasq on
// loopback ([sip] dns_server). Run inside a namespace:
//   TABPHONE_BIN=... CALL_PROBE=... tests/e2e/run.sh sip/transport.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startServer } from '../lib/server.mjs';
import { settledRegistration } from '../lib/client.mjs';
import { freePort, repoRoot, startKamailio, startResponder, startSipp } from '../lib/sip-peers.mjs';
import { startDns } from '../lib/dns.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// sofia-sip 1.12.11 leaks every TLS connection's SSL object (see tests/lsan.supp); the
// suppression matches only with full stacks through OpenSSL, which has no frame pointers.
const TLS_ENV = { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? 'detect_leaks=1'}:fast_unwind_on_malloc=0`,
  LSAN_OPTIONS: `suppressions=${path.join(repoRoot, 'tests', 'lsan.supp')}:print_suppressions=0` };
const PASSWORDS = { alice: 'alice-Tls-1' };

/** A test CA, a server certificate for pbx.example.test and its SIP domain example.test (RFC 5922)
 * signed by it, and an unrelated CA. */
function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-pki-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tabphone test CA');
  ssl('req', ...ec, '-keyout', 'pbx.key', '-out', 'pbx.csr', '-subj', '/CN=pbx.example.test');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:pbx.example.test,DNS:example.test\n');
  ssl('x509', '-req', '-in', 'pbx.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'pbx.crt', '-days', '2', '-extfile', 'ext.cnf');
  ssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=some other CA');
  const p = (name) => path.join(dir, name);
  return { dir, ca: p('ca.crt'), otherCa: p('other.crt'), cert: p('pbx.crt'), key: p('pbx.key') };
}

describe('SIP over TLS', { concurrency: false }, () => {
  let pki, kam, dns;
  before(async () => {
    pki = makePki();
    kam = await startKamailio({ users: PASSWORDS, template: 'kamailio-tls.cfg',
      tls: { cert: pki.cert, key: pki.key }, uas: '127.0.0.1:9' });
    dns = await startDns({
      hosts: { 'pbx.example.test': '127.0.0.1', 'other.example.test': '127.0.0.1' },
      srv: [{ name: '_sips._tcp.example.test', target: 'pbx.example.test', port: kam.tlsPort }],
      naptr: [{ name: 'example.test', service: 'SIPS+D2T', replacement: '_sips._tcp.example.test' }],
    });
  });
  after(async () => {
    await kam?.stop();
    await dns?.stop();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const sip = async (extra = {}) => ({ dns_server: dns.server, tls_ca_file: pki.ca, tls_port: await freePort(), ...extra });

  test('registers over TLS when the certificate chains to tls_ca_file', async () => {
    const before = kam.registers().length;
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(), 'account alice': {
      uri: 'sip:alice@pbx.example.test', password: PASSWORDS.alice,
      registrar: `pbx.example.test:${kam.tlsPort}`, transport: 'tls' } } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      const seen = kam.registers().slice(before);
      assert.ok(seen.length > 0 && seen.every((r) => r.proto === 'tls'), JSON.stringify(seen));
      assert.match(seen.at(-1).contact, /transport=tls/);
    } finally {
      await srv.stop();
    }
    assert.ok(!srv.logs().includes(PASSWORDS.alice), 'password in the log');
  });

  test('a sips: address of record registers over TLS found through NAPTR and SRV', async () => {
    const before = kam.registers().length;
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(), 'account alice': {
      uri: 'sips:alice@example.test', password: PASSWORDS.alice } } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.ok(kam.registers().slice(before).every((r) => r.proto === 'tls'));
      const asked = dns.queries().map((q) => `${q.type} ${q.name}`);
      assert.ok(asked.includes('SRV _sips._tcp.example.test'), asked.join(', '));
    } finally {
      await srv.stop();
    }
  });

  test('a certificate from a CA not in tls_ca_file fails with a reason naming TLS', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip({ tls_ca_file: pki.otherCa }), 'account alice': {
      uri: 'sip:alice@pbx.example.test', password: PASSWORDS.alice,
      registrar: `pbx.example.test:${kam.tlsPort}`, transport: 'tls' } } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'failed', JSON.stringify(reg));
      assert.match(reg.reason, /^TLS certificate of pbx\.example\.test:\d+ not trusted \(unable to get local issuer certificate; check \[sip\] tls_ca_file\)/);
    } finally {
      await srv.stop();
    }
  });

  test('a certificate naming another host is refused', async () => {
    const srv = await startServer({ env: TLS_ENV, readyTimeoutMs: 60000, config: { sip: await sip(), 'account alice': {
      uri: 'sip:alice@other.example.test', password: PASSWORDS.alice,
      registrar: `other.example.test:${kam.tlsPort}`, transport: 'tls' } } });
    try {
      const reg = await settledRegistration(srv, 'alice');
      assert.equal(reg.state, 'failed', JSON.stringify(reg));
      assert.match(reg.reason, /^TLS certificate of other\.example\.test:\d+ does not name other\.example\.test \(hostname mismatch\)/);
    } finally {
      await srv.stop();
    }
  });

  test('a call through a TLS proxy: INVITE, ACK and BYE travel over TLS', async () => {
    const uas = await startSipp('uas-answer.xml');
    const kamCall = await startKamailio({ users: PASSWORDS, template: 'kamailio-tls.cfg',
      tls: { cert: pki.cert, key: pki.key }, uas: `127.0.0.1:${uas.port}` });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-tlscall-'));
    try {
      const conf = await tlsCallConfig(dir, kamCall.tlsPort, pki.ca, dns.server);
      const r = await runProbe(['--config', conf, '--account', 'alice', '--to', 'sip:bob@pbx.example.test', '--hangup-after', '300']);
      const types = r.events.map((e) => e.type).filter((t) => t !== 'progress');
      assert.deepEqual(types, ['answered', 'ended'], r.stdout + r.stderr.slice(-3000));
      const seen = [...kamCall.output().matchAll(/TPREQ method=(\w+) proto=(\w+)/g)].map((m) => `${m[1]}/${m[2]}`);
      for (const want of ['INVITE/tls', 'ACK/tls', 'BYE/tls']) assert.ok(seen.includes(want), seen.join(' '));
      assert.match(uas.messages(), /INVITE sip:bob@pbx\.example\.test/);
    } finally {
      await kamCall.stop();
      await uas.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a call to a TLS proxy whose certificate is not trusted ends with a reason naming TLS', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-tlscall-'));
    try {
      const conf = await tlsCallConfig(dir, kam.tlsPort, pki.otherCa, dns.server);
      const r = await runProbe(['--config', conf, '--account', 'alice', '--to', 'sip:bob@pbx.example.test']);
      const ended = r.events.find((e) => e.type === 'ended');
      assert.ok(ended, r.stdout + r.stderr.slice(-2000));
      assert.equal(ended.code, 503);
      assert.match(ended.reason, /^TLS certificate of pbx\.example\.test:\d+ not trusted \(unable to get local issuer certificate/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A call_probe config: account alice, a trunk through pbx.example.test's TLS port. */
async function tlsCallConfig(dir, tlsPort, ca, dnsServer) {
  fs.writeFileSync(path.join(dir, 'c.crt'), '');
  fs.writeFileSync(path.join(dir, 'c.key'), '');
  const conf = path.join(dir, 'tabphone.conf');
  fs.writeFileSync(conf, `[server]\nlisten = 127.0.0.1:${await freePort()}\ncert = ${dir}/c.crt\nkey = ${dir}/c.key\n` +
    `[sip]\nlisten = 127.0.0.1:${await freePort()}\ntls_port = ${await freePort()}\ndns_server = ${dnsServer}\n` +
    `tls_ca_file = ${ca}\nshutdown_timeout = 3\n[log]\nlevel = debug\n` +
    `[account alice]\nuri = sip:alice@pbx.example.test\nproxy = pbx.example.test:${tlsPort}\n` +
    'transport = tls\nregister = no\n');
  return conf;
}

function probePath() {
  if (process.env.CALL_PROBE) return process.env.CALL_PROBE;
  for (const dir of ['build-h5', 'build']) {
    const p = path.join(repoRoot, dir, 'tests', 'sip', 'call_probe');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('call_probe not built');
}

function runProbe(args) {
  return new Promise((resolve) => {
    const child = spawn(probePath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.once('close', (code) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      resolve({ code, stdout, stderr, events: lines.filter((e) => e.event === 'call') });
    });
  });
}

describe('keepalive', { concurrency: true }, () => {
  async function keepalive(proto, seconds) {
    const reg = await startResponder({ proto });
    let srv;
    try { // the responder is stopped even when the server fails to start (else node waits on it)
      srv = await startServer({ config: { sip: { keepalive_seconds: seconds }, 'account alice': {
        uri: 'sip:alice@127.0.0.1', registrar: `127.0.0.1:${reg.port}`, transport: proto } } });
      const state = await settledRegistration(srv, 'alice');
      assert.equal(state.state, 'registered', JSON.stringify(state));
      await sleep(2600);
      return { methods: reg.requests().map((r) => r.method), crlfs: reg.crlfs(), connections: reg.connections() };
    } finally {
      await srv?.stop();
      await reg.stop();
    }
  }

  test('TCP: CRLF pings every keepalive_seconds on the one reused connection', async () => {
    const r = await keepalive('tcp', 1);
    assert.ok(r.crlfs >= 2, JSON.stringify(r));
    assert.equal(r.connections, 1, JSON.stringify(r));
    assert.deepEqual(r.methods.filter((m) => m !== 'REGISTER'), []);
  });

  test('UDP: OPTIONS toward the registrar every keepalive_seconds', async () => {
    const r = await keepalive('udp', 1);
    assert.ok(r.methods.filter((m) => m === 'OPTIONS').length >= 2, JSON.stringify(r));
  });

  test('keepalive_seconds = 0 sends none', async () => {
    const [udp, tcp] = await Promise.all([keepalive('udp', 0), keepalive('tcp', 0)]);
    assert.deepEqual(udp.methods.filter((m) => m === 'OPTIONS'), []);
    assert.equal(tcp.crlfs, 0);
  });
});
