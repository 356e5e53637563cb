// call-probe.mjs: drives tests/sip/call_probe (one call through server/sip/call.c, its events
// printed as JSON lines) for the SIP-level call tests. CALL_PROBE=path overrides where the probe
// is; the default looks in build-call/, build-sip/, then build/.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { repoRoot } from './sip-peers.mjs';

export function probePath() {
  if (process.env.CALL_PROBE) return process.env.CALL_PROBE;
  for (const dir of ['build-call', 'build-sip', 'build']) {
    const p = path.join(repoRoot, dir, 'tests', 'sip', 'call_probe');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('call_probe not built (ninja -C build tests/sip/call_probe)');
}

/** A config file for the probe: open mode on loopback, SIP on sipPort, [account] sections from
 * accounts ({ name: { key: value } }), extra lines for [sip] (e.g. 'min_se = 2'). */
export function writeProbeConfig({ sipPort, accounts = {}, direct = true, userAgent = 'tabphone-call-probe', sipExtra = '' }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-call-'));
  fs.writeFileSync(path.join(dir, 'c.crt'), '');
  fs.writeFileSync(path.join(dir, 'c.key'), '');
  const sections = Object.entries(accounts).map(([name, keys]) =>
    `[account ${name}]\n` + Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join('\n'));
  const text = `[server]\nlisten = 127.0.0.1:${sipPort + 1}\ncert = ${dir}/c.crt\nkey = ${dir}/c.key\n` +
    `[sip]\nlisten = 127.0.0.1:${sipPort}\nuser_agent = ${userAgent}\n` +
    `direct_account = ${direct ? 'yes' : 'no'}\nshutdown_timeout = 3\n${sipExtra ? sipExtra + '\n' : ''}` +
    `[log]\nlevel = debug\n` + sections.join('\n') + '\n';
  const file = path.join(dir, 'tabphone.conf');
  fs.writeFileSync(file, text);
  return file;
}

/** Starts call_probe; returns { done (promise of { events, lines, stdout, stderr, code }), stderr() }. */
export function startProbe(args, { timeoutMs = 40000 } = {}) {
  const child = spawn(probePath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  // 'close', not 'exit': exit can come before the last stdout data has been read.
  const done = new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    resolve({ lines, events: lines.filter((e) => e.event === 'call'), stdout, stderr, code });
  }));
  return { done, stderr: () => stderr };
}

/** Polls check() every 50 ms until it is true; throws after ms. */
export async function waitFor(check, what, ms = 5000) {
  for (let t = 0; t < ms; t += 50) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
