// The binary's command line and configuration errors: exit status 2 and one line naming
// file:line, key and what is wrong; --check-config; --hash-password; port in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { runTabphone, startServer, testCerts, freePort, repoRoot } from '../lib/server.mjs';

const certs = () => ({ cert: testCerts().cert, key: testCerts().key });

test('--version prints the version', () => {
  const r = runTabphone(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^tabphone \d+\.\d+\.\d+/);
});

test('--help documents every option', () => {
  const r = runTabphone(['--help']);
  assert.equal(r.code, 0);
  for (const opt of ['--config', '--check-config', '--version', '--hash-password']) assert.ok(r.stdout.includes(opt), opt);
});

test('an unknown argument exits with status 2', () => {
  const r = runTabphone(['--frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown argument '--frobnicate'/);
});

test('--check-config accepts a good file', () => {
  const r = runTabphone(['--check-config'], { config: { server: certs() } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /configuration OK/);
});

test('tabphone.conf.example is a valid configuration', () => {
  const r = runTabphone(['--check-config', '--config', path.join(repoRoot, 'tabphone.conf.example')],
    { env: { TABPHONE_SERVER_CERT: testCerts().cert, TABPHONE_SERVER_KEY: testCerts().key } });
  assert.equal(r.code, 0, r.stderr);
});

test('an unknown key exits 2 naming file:line and key', () => {
  const r = runTabphone(['--check-config'], { config: { server: { ...certs(), lissten: '127.0.0.1:1' } } });
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /tabphone\.conf:4: key 'lissten': unknown key in \[server\]/);
});

test('a bad value exits 2 and says what is wrong', () => {
  const r = runTabphone(['--check-config'], { config: { server: certs(), sip: { listen: '127.0.0.1:70000' } } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /key 'listen': '127\.0\.0\.1:70000': port must be a number/);
});

test('a missing certificate exits 2 naming the key', () => {
  const r = runTabphone(['--check-config'], { config: { server: { cert: '/nonexistent/c.pem', key: testCerts().key } } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /key 'cert': \/nonexistent\/c\.pem: No such file/);
});

test('a non-loopback listener without any [user] is refused', () => {
  const r = runTabphone(['--check-config'], { config: { server: { ...certs(), listen: '0.0.0.0:8443' } } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /open mode \(no login\) is only allowed on loopback/);
});

test('environment overrides are validated like file keys', () => {
  const r = runTabphone(['--check-config'], { config: { server: certs() }, env: { TABPHONE_SIP_EXPIRES: '5' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /environment: key 'expires': unknown key in \[sip\]/);
});

test('--hash-password prints a hash that logs the user in', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.env.TABPHONE_BIN || path.join(repoRoot, 'build/server/tabphone'),
    ['--hash-password'], { input: 'correct horse\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^pbkdf2-sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.ok(!r.stdout.includes('correct horse'));
});

test('a port in use exits 2 with one line naming the address', async () => {
  const port = await freePort();
  const blocker = net.createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const r = runTabphone([], { config: { server: { ...certs(), listen: `127.0.0.1:${port}` }, sip: { listen: `127.0.0.1:${await freePort()}` } } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*(in use|Address already)`, 'i'));
  } finally {
    blocker.close();
  }
});

test('SIGTERM stops the server cleanly with status 0', async () => {
  const srv = await startServer();
  const r = await srv.stop('SIGTERM');
  assert.equal(r.code, 0, srv.logs());
  assert.match(srv.logs(), /stopped/);
  assert.doesNotMatch(srv.logs(), /LeakSanitizer|AddressSanitizer|runtime error/);
});
