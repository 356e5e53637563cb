// auth.test.mjs: digest authentication against real Kamailio 5.6 (tests/sip/kamailio-auth.cfg)
// and a sipp registrar: MD5 and SHA-256 (RFC 8760) with qop=auth, for REGISTER and for an INVITE
// that an outbound proxy challenges with 407; passwords with ':', '@' and non-ASCII; an auth
// username that differs from the URI user; a wrong password.
//
//   TABPHONE_BIN=... CALL_PROBE=build-x/tests/sip/call_probe REG_PROBE=build-x/tests/sip/reg_probe \
//     tests/e2e/run.sh sip/auth.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { freePort, repoRoot, startKamailio, startSipp } from '../lib/sip-peers.mjs';

// ':' and '@' and UTF-8 (é, ü): sofia alone would cut the first at ':'.
const PASSWORD = 'p:ss@w\u00f6rd-\u00e9\u00fc';
const USERS = { alice: PASSWORD, 'alice-auth': 'other:secret@\u00fc', bob: 'bob-secret' };

function probe(name, envName) {
  if (process.env[envName]) return process.env[envName];
  for (const dir of ['build-sip', 'build']) {
    const p = path.join(repoRoot, dir, 'tests', 'sip', name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${name} not built`);
}

function run(bin, args, env, timeoutMs = 30000) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    // The probes may be ASan builds: a sanitizer report fails the test.
    assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, stderr.slice(-4000));
    const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    resolve({ lines, stdout, stderr, code });
  }));
}

async function register({ port, user, password, username, args = [] }) {
  const sipPort = await freePort();
  const r = await run(probe('reg_probe', 'REG_PROBE'), ['--port', String(sipPort), '--uri',
    `sip:${user}@127.0.0.1`, '--registrar', `127.0.0.1:${port}`,
    ...(username ? ['--username', username] : []), ...args], { REG_PROBE_PASSWORD: password });
  return { ...r, events: r.lines.filter((e) => e.event === 'registration') };
}

function noSecret(r, secret) {
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!text.includes(secret), 'password in the output');
    assert.ok(!text.includes(Buffer.from(secret).toString('latin1')), 'password (latin1) in the output');
  }
}

/** Authorization headers Kamailio logged, e.g. for REGISTER: [{ user, authz }]. */
function logged(kam, tag, field) {
  const re = new RegExp(`${tag} user=(\\S*) ${field}=(.*)`, 'g');
  return [...kam.output().matchAll(re)].map((m) => ({ user: m[1], header: m[2] }))
    .filter((x) => x.header && x.header !== '<null>');
}

const param = (header, name) => (header.match(new RegExp(`${name}="?([^",]+)"?`)) || [])[1];

for (const algorithm of ['MD5', 'SHA-256']) {
  describe(`REGISTER with Kamailio challenging ${algorithm}, qop=auth`, { concurrency: true }, () => {
    let kam;
    before(async () => {
      kam = await startKamailio({ users: USERS, template: 'kamailio-auth.cfg', vars: { ALGORITHM: algorithm } });
    });
    after(async () => { await kam?.stop(); });

    test('registers with a password holding ":", "@", "\u00e9", "\u00fc" and unregisters', async () => {
      const r = await register({ port: kam.port, user: 'alice', password: PASSWORD,
        args: ['--stop-after-registered'] });
      const registered = r.events.find((e) => e.state === 'registered');
      assert.ok(registered, JSON.stringify(r.events) + r.stderr.slice(-3000));
      assert.equal(registered.code, 200);
      assert.equal(r.events.at(-1).state, 'unregistered', JSON.stringify(r.events));
      assert.equal(r.events.at(-1).code, 200);
      const authz = logged(kam, 'TPREG', 'authz').filter((a) => a.user === 'alice');
      assert.ok(authz.length >= 1, kam.output().slice(-2000));
      const h = authz[0].header;
      assert.equal(param(h, 'qop'), 'auth', h);
      assert.match(param(h, 'nc'), /^0000000\d$/, h);
      assert.ok(param(h, 'cnonce'), h);
      if (algorithm === 'SHA-256') assert.equal(param(h, 'algorithm'), 'SHA-256', h);
      else assert.ok(!/SHA-256/.test(h), h);
      noSecret(r, PASSWORD);
    });

    test('auth username different from the URI user', async () => {
      const r = await register({ port: kam.port, user: 'alice', username: 'alice-auth',
        password: USERS['alice-auth'], args: ['--stop-after-registered'] });
      assert.ok(r.events.some((e) => e.state === 'registered'), JSON.stringify(r.events));
      assert.ok(logged(kam, 'TPREG', 'authz').some((a) => a.user === 'alice-auth'));
      noSecret(r, USERS['alice-auth']);
    });

    test('wrong password: failed 403 with a reason, once, no password in any output', async () => {
      const wrong = 'wr:ong@p\u00e4ss';
      const r = await register({ port: kam.port, user: 'bob', password: wrong,
        args: ['--retry-max', '60', '--run-seconds', '2'] });
      const failed = r.events.filter((e) => e.state === 'failed');
      assert.equal(failed.length, 1, JSON.stringify(r.events));
      assert.equal(failed[0].code, 403);
      assert.match(failed[0].reason, /^403 Forbidden from 127\.0\.0\.1:\d+ — check username\/password/);
      noSecret(r, wrong);
      assert.ok(!kam.output().includes(wrong));
    });

    test('refreshes stay registered (expires=3, 7 s)', async () => {
      const r = await register({ port: kam.port, user: 'bob', password: USERS.bob,
        args: ['--expires', '3', '--run-seconds', '7'] });
      assert.ok(!r.events.some((e) => e.state === 'failed'), JSON.stringify(r.events));
      const saved = (kam.output().match(/TPSAVED user=bob/g) || []).length;
      assert.ok(saved >= 3, `only ${saved} REGISTERs accepted`);
    });
  });
}

describe('a registrar offering MD5 and SHA-256 (sipp)', () => {
  test('RFC 8760: the SHA-256 challenge is answered, correctly', async () => {
    const sipp = await startSipp('auth-register-both.xml');
    try {
      const r = await register({ port: sipp.port, user: 'alice', password: PASSWORD,
        args: ['--stop-after-registered'] });
      await Promise.race([sipp.exited, new Promise((res) => setTimeout(res, 1500))]);
      assert.ok(r.events.some((e) => e.state === 'registered'), JSON.stringify(r.events) + sipp.output() + sipp.messages() + r.stderr.slice(-4000));
      const msgs = sipp.messages();
      const m = msgs.match(/\nAuthorization: (Digest [^\r\n]+)/);
      assert.ok(m, msgs);
      const h = m[1];
      assert.equal(param(h, 'algorithm'), 'SHA-256');
      const sha = (t) => crypto.createHash('sha256').update(t, 'utf8').digest('hex');
      const ha1 = sha(`alice:tabphone-test:${PASSWORD}`);
      const ha2 = sha(`REGISTER:${param(h, 'uri')}`);
      const expect = sha(`${ha1}:${param(h, 'nonce')}:${param(h, 'nc')}:${param(h, 'cnonce')}:auth:${ha2}`);
      assert.equal(param(h, 'nonce'), 'sha-nonce-2');
      assert.equal(param(h, 'response'), expect);
      // The challenged un-REGISTER went again with the new nonce, and with one header only.
      assert.equal(r.events.at(-1).state, 'unregistered', JSON.stringify(r.events) + msgs + r.stderr.slice(-5000));
      assert.equal(r.events.at(-1).code, 200, JSON.stringify(r.events));
      const registers = msgs.split(/-{10,}/).filter((x) => /received[^\n]*\n\s*REGISTER /.test(x));
      assert.equal(registers.length, 4, msgs);
      assert.equal((registers[3].match(/\nAuthorization:/g) || []).length, 1, registers[3]);
      assert.match(registers[3], /nonce="sha-nonce-3"/);
      assert.equal(new Set(registers.map((x) => x.match(/Call-ID: (\S+)/)[1])).size, 1, 'one Call-ID');
      noSecret(r, PASSWORD);
    } finally {
      await sipp.stop();
    }
  });
});

/** A config for call_probe: alice places calls through proxy (Kamailio). */
function callConfig({ sipPort, proxyPort, username, password }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-auth-'));
  fs.writeFileSync(path.join(dir, 'c.crt'), '');
  fs.writeFileSync(path.join(dir, 'c.key'), '');
  const text = `[server]\nlisten = 127.0.0.1:${sipPort + 1}\ncert = ${dir}/c.crt\nkey = ${dir}/c.key\n` +
    `[sip]\nlisten = 127.0.0.1:${sipPort}\nuser_agent = tabphone-auth-test\nshutdown_timeout = 3\n` +
    `[log]\nlevel = debug\n[account alice]\nuri = sip:alice@127.0.0.1\n` +
    (username ? `username = ${username}\n` : '') + `password = ${password}\n` +
    `proxy = 127.0.0.1:${proxyPort}\nregister = no\n`;
  const file = path.join(dir, 'tabphone.conf');
  fs.writeFileSync(file, text);
  return file;
}

for (const algorithm of ['MD5', 'SHA-256']) {
  describe(`INVITE through an outbound proxy answering 407 (${algorithm})`, { concurrency: true }, () => {
    let kam;
    before(async () => {
      kam = await startKamailio({ users: USERS, template: 'kamailio-auth.cfg', vars: { ALGORITHM: algorithm } });
    });
    after(async () => { await kam?.stop(); });

    for (const [label, username, password] of [['URI user', null, PASSWORD],
      ['separate auth username', 'alice-auth', USERS['alice-auth']]]) {
      test(`the call is answered (${label})`, async () => {
        const uas = await startSipp('uas-answer.xml');
        try {
          const sipPort = await freePort();
          const config = callConfig({ sipPort, proxyPort: kam.port, username, password });
          const r = await run(probe('call_probe', 'CALL_PROBE'), ['--config', config, '--account',
            'alice', '--to', `sip:bob@127.0.0.1:${uas.port}`, '--hangup-after', '200']);
          const types = r.lines.filter((e) => e.event === 'call').map((e) => e.type);
          assert.ok(types.includes('answered'), JSON.stringify(r.lines) + r.stderr.slice(-3000));
          const pauthz = logged(kam, 'TPINV', 'pauthz')
            .filter((a) => a.user === (username ?? 'alice') && a.header.includes(`:${uas.port}"`));
          assert.equal(pauthz.length, 1, kam.output().slice(-3000));
          const h = pauthz[0].header;
          assert.equal(param(h, 'qop'), 'auth', h);
          if (algorithm === 'SHA-256') assert.equal(param(h, 'algorithm'), 'SHA-256', h);
          assert.match(kam.output(), new RegExp(`TPRELAY user=${username ?? 'alice'} `));
          noSecret(r, password);
        } finally {
          await uas.stop();
        }
      });
    }

    test('a wrong password ends the call with 403, once', async () => {
      const sipPort = await freePort();
      const wrong = 'not:the@p\u00e4ss';
      const config = callConfig({ sipPort, proxyPort: kam.port, password: wrong });
      const r = await run(probe('call_probe', 'CALL_PROBE'), ['--config', config, '--account',
        'alice', '--to', 'sip:bob@127.0.0.1:9']);
      const ended = r.lines.find((e) => e.event === 'call' && e.type === 'ended');
      assert.ok(ended, JSON.stringify(r.lines));
      assert.equal(ended.code, 403, JSON.stringify(ended));
      noSecret(r, wrong);
    });
  });
}

describe('SHA-256 407 from sipp (the retry and SIPDigestLeak)', { concurrency: true }, () => {
  const sha = (t) => crypto.createHash('sha256').update(t, 'utf8').digest('hex');

  test('from the account proxy: answered once, same Call-ID and From tag, correct response', async () => {
    const sipp = await startSipp('auth-uas-challenge-sha256.xml');
    try {
      const sipPort = await freePort();
      const config = callConfig({ sipPort, proxyPort: sipp.port, password: PASSWORD });
      const r = await run(probe('call_probe', 'CALL_PROBE'), ['--config', config, '--account',
        'alice', '--to', 'sip:bob@127.0.0.1', '--hangup-after', '200']);
      await Promise.race([sipp.exited, new Promise((res) => setTimeout(res, 1500))]);
      const msgs = sipp.messages();
      assert.ok(r.lines.some((e) => e.type === 'answered'), JSON.stringify(r.lines) + msgs);
      const invites = msgs.split(/-{10,}/).filter((x) => /received[^\n]*\n\s*INVITE /.test(x));
      assert.equal(invites.length, 2, msgs);
      const field = (m, name) => m.match(new RegExp(`\\n${name}: ([^\\r\\n]+)`))[1];
      assert.equal(field(invites[0], 'Call-ID'), field(invites[1], 'Call-ID'));
      assert.equal(field(invites[0], 'From'), field(invites[1], 'From'));
      const cseq = (m) => Number(field(m, 'CSeq').split(' ')[0]);
      assert.ok(cseq(invites[1]) > cseq(invites[0]), 'CSeq goes up');
      const h = field(invites[1], 'Proxy-Authorization');
      assert.equal(param(h, 'algorithm'), 'SHA-256');
      const ha1 = sha(`alice:tabphone-test:${PASSWORD}`);
      const ha2 = sha(`INVITE:${param(h, 'uri')}`);
      assert.equal(param(h, 'uri'), 'sip:bob@127.0.0.1');
      assert.equal(param(h, 'response'),
        sha(`${ha1}:5f8b2d3cae1f:${param(h, 'nc')}:${param(h, 'cnonce')}:auth:${ha2}`));
      noSecret(r, PASSWORD);
    } finally {
      await sipp.stop();
    }
  });

  test('from a far end that is not the account proxy: never answered', async () => {
    const sipp = await startSipp('auth-uas-challenge-sha256.xml');
    try {
      const sipPort = await freePort();
      const proxy = await freePort(); // nothing listens there: the call goes direct via --to
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-auth-'));
      fs.writeFileSync(path.join(dir, 'c.crt'), '');
      fs.writeFileSync(path.join(dir, 'c.key'), '');
      const config = path.join(dir, 'tabphone.conf');
      // A trunk with a password but no proxy: INVITEs go straight to the far end, which is
      // neither proxy nor registrar (the registrar is elsewhere), so its 407 stays unanswered.
      fs.writeFileSync(config, `[server]\nlisten = 127.0.0.1:${sipPort + 1}\ncert = ${dir}/c.crt\n` +
        `key = ${dir}/c.key\n[sip]\nlisten = 127.0.0.1:${sipPort}\nshutdown_timeout = 3\n` +
        `[log]\nlevel = debug\n[account alice]\nuri = sip:alice@127.0.0.1\npassword = ${PASSWORD}\n` +
        `registrar = 127.0.0.1:${proxy}\nregister = no\n`);
      const r = await run(probe('call_probe', 'CALL_PROBE'), ['--config', config, '--account',
        'alice', '--to', `sip:bob@127.0.0.1:${sipp.port}`]);
      const ended = r.lines.find((e) => e.type === 'ended');
      assert.ok(ended, JSON.stringify(r.lines));
      assert.equal(ended.code, 407, JSON.stringify(ended));
      await new Promise((res) => setTimeout(res, 300));
      assert.doesNotMatch(sipp.messages(), /Proxy-Authorization:/i);
      noSecret(r, PASSWORD);
    } finally {
      await sipp.stop();
    }
  });
});
