// Starts a real tabphone process for a test: generated INI config with free loopback ports, the
// test certificate, and helpers to read its log and stop it. Every test gets its own process.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { freePort } from './sip-peers.mjs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const tabphoneBin = process.env.TABPHONE_BIN || path.join(repoRoot, 'build/server/tabphone');

/** A port free for TCP and UDP on 127.0.0.1 (asked from the kernel, then released). */
export { freePort } from './sip-peers.mjs';

let certDir;
/** The test certificate directory (made once per process by scripts/gen-certs). */
export function testCerts() {
  if (!certDir) {
    certDir = path.join(repoRoot, 'tests/out/certs');
    const r = spawnSync(path.join(repoRoot, 'scripts/gen-certs'), [certDir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gen-certs failed: ${r.stderr}`);
  }
  return { cert: path.join(certDir, 'tabphone-dev.crt'), key: path.join(certDir, 'tabphone-dev.key') };
}

/** Renders {section: {key: value}} as INI. A value of null/undefined leaves the key out. */
export function toIni(sections) {
  let out = '';
  for (const [name, keys] of Object.entries(sections)) {
    out += `[${name}]\n`;
    for (const [k, v] of Object.entries(keys || {})) {
      if (v === null || v === undefined) continue;
      out += `${k} = ${Array.isArray(v) ? v.join(', ') : v}\n`;
    }
    out += '\n';
  }
  return out;
}

function writeTempConfig(sections) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-test-'));
  const file = path.join(dir, 'tabphone.conf');
  fs.writeFileSync(file, toIni(sections));
  return file;
}

/** Runs the binary to completion (for --check-config, --version, bad configs). */
export function runTabphone(args, { config, env = {}, timeoutMs = 10000 } = {}) {
  const fullArgs = [...args];
  if (config) fullArgs.unshift('--config', writeTempConfig(config));
  const r = spawnSync(tabphoneBin, fullArgs, {
    encoding: 'utf8', timeout: timeoutMs, env: { ...cleanEnv(), ...env }, cwd: repoRoot,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TABPHONE_')) delete env[k];
  // LeakSanitizer output must fail loudly in sanitizer runs; keep ASan from aborting on the
  // first leak report so the log is complete.
  return env;
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try { resolve({ status: res.statusCode, body: JSON.parse(body) }); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/**
 * Starts tabphone. options.config: sections merged over the test defaults
 * ({server: {listen, http_listen, cert, key}, sip: {listen, shutdown_timeout}, log: {level}}).
 * Returns { httpsUrl, httpUrl, wsUrl, httpsPort, httpPort, sipPort, configFile, logs(),
 *           waitForLog(regex, ms), stop(signal) }.
 */
export async function startServer(options = {}) {
  // freePort hands out a port the kernel had free a moment ago; a test running in parallel can
  // take it meanwhile (its own listener, or the source port of an outgoing connection). The
  // server then refuses to start with "address already in use": start again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(err.message)) throw err;
    }
  }
}

async function startServerOnce({ config = {}, env = {}, readyTimeoutMs = 10000 } = {}) {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const sipPort = await freePort();
  const { cert, key } = testCerts();
  const base = {
    server: { listen: `127.0.0.1:${httpsPort}`, http_listen: `127.0.0.1:${httpPort}`, cert, key },
    sip: { listen: `127.0.0.1:${sipPort}`, shutdown_timeout: 2 },
    log: { level: 'debug' },
    // Tests stop servers with calls up: no SIGTERM drain unless a test asks for one.
    shutdown: { drain_seconds: 0 },
  };
  const sections = { ...base };
  for (const [name, keys] of Object.entries(config)) sections[name] = { ...(base[name] || {}), ...keys };
  const configFile = writeTempConfig(sections);

  const child = spawn(tabphoneBin, ['--config', configFile], {
    env: { ...cleanEnv(), ...env }, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const waiters = new Set();
  const onData = (d) => {
    log += d;
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));

  const srv = {
    httpsPort, httpPort, sipPort, configFile, child,
    httpsUrl: `https://127.0.0.1:${httpsPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    wsUrl: `wss://127.0.0.1:${httpsPort}/ws`,
    logs: () => log,
    waitForLog(regex, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = log.match(regex);
          if (m) { waiters.delete(check); clearTimeout(t); resolve(m); }
        };
        const t = setTimeout(() => { waiters.delete(check); reject(new Error(`log never matched ${regex}\n--- log ---\n${log}`)); }, ms);
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', ms = 15000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let forced = false;
      const t = setTimeout(() => { forced = true; child.kill('SIGKILL'); }, ms);
      const r = await exited;
      clearTimeout(t);
      // A server that had to be killed hid whatever it would have reported at exit (LeakSanitizer
      // runs at exit), and a shutdown that hangs is a bug of its own.
      if (forced && signal !== 'SIGKILL' && !srv.stopForced) {
        srv.stopForced = true;
        throw new Error(`tabphone did not exit within ${ms} ms of ${signal}: killed\n--- log tail ---\n${log.slice(-6000)}`);
      }
      // Every test doubles as a memory check when the server is a sanitizer build: a leak,
      // a use-after-free or undefined behaviour anywhere in its life fails the test.
      const report = log.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:)[^\n]*/);
      if (report && !srv.sanitizerReported) {
        srv.sanitizerReported = true;
        throw new Error(`sanitizer report from tabphone: ${report[0]}\n--- log tail ---\n${log.slice(-6000)}`);
      }
      return r;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tabphone exited with ${child.exitCode} during startup:\n${log}`);
    try {
      const r = await getJson(`${srv.httpUrl}/healthz`);
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await srv.stop('SIGKILL');
      throw new Error(`tabphone did not become healthy in ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return srv;
}

/** Fetches a URL from the test server; returns { status, headers, body }. */
export function fetchRaw(url, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers, rejectUnauthorized: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}
