// baresip as a real far-end phone for call tests: auto-answers, plays a tone from a WAV file,
// and records what it hears (sndfile module) so a test can check the tab's audio arrived.
//
//   const phone = await startBaresip({ toneHz: 880 });          // answers sip:phone@127.0.0.1:PORT
//   const caller = await startBaresip({ toneHz: 880, dial: 'sip:alice@127.0.0.1:5060' });
//   phone.heard() -> { seconds, rms, frequency } of the newest recording (sox "stat")
//
// Only 127.0.0.1: net_interface pins baresip to loopback (with no other interface it cannot
// pick a local address by itself).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './sip-peers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Makes (once) an 8 kHz mono tone WAV and returns its path. */
export function toneFile(hz, dir = os.tmpdir(), rate = 8000) {
  const file = path.join(dir, `tabphone-tone-${hz}-${rate}.wav`);
  if (!fs.existsSync(file)) {
    const r = spawnSync('sox', ['-n', '-r', String(rate), '-c', '1', '-b', '16', file, 'synth', '120', 'sine', String(hz), 'vol', '0.5']);
    if (r.status !== 0) throw new Error(`sox failed: ${r.stderr}`);
  }
  return file;
}

/** sox's "stat" of a WAV file: { seconds, rms, frequency }. */
export function soxStat(file) {
  const r = spawnSync('sox', [file, '-n', 'stat'], { encoding: 'utf8' });
  const num = (label) => {
    const m = r.stderr.match(new RegExp(`${label}:\\s+(-?[0-9.]+)`));
    return m ? Number(m[1]) : NaN;
  };
  return { seconds: num('Length \\(seconds\\)'), rms: num('RMS\\s+amplitude'), frequency: num('Rough\\s+frequency') };
}

export async function startBaresip({ toneHz = 880, user = 'phone', codecs = 'PCMU', dial, autoAnswer = true, lifetimeSec = 60 } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-baresip-'));
  const recordings = path.join(dir, 'rec');
  fs.mkdirSync(recordings);
  const rtpBase = 30000 + Math.floor(Math.random() * 20000);
  fs.writeFileSync(path.join(dir, 'config'), [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${port}`,
    'sip_transports udp',
    'net_interface 127.0.0.1',
    'call_local_timeout 120',
    `audio_source aufile,${toneFile(toneHz)}`,
    'audio_player aubridge,nil',
    'audio_alert aubridge,nil',
    'audio_srate 8000',
    'audio_channels 1',
    `rtp_ports ${rtpBase}-${rtpBase + 200}`,
    'module_path /usr/lib/baresip/modules',
    'module g711.so', 'module g722.so', 'module aufile.so', 'module aubridge.so', 'module sndfile.so',
    'module_app account.so', 'module_app menu.so',
    `snd_path ${recordings}`,
    '',
  ].join('\n'));
  const answer = autoAnswer ? ';answermode=auto' : '';
  fs.writeFileSync(path.join(dir, 'accounts'), `<sip:${user}@127.0.0.1:${port}>;regint=0${answer};audio_codecs=${codecs}\n`);

  const args = ['-f', dir, '-t', String(lifetimeSec)];
  if (dial) args.push('-e', `/dial ${dial}`);
  const proc = spawn('baresip', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => proc.once('exit', r));
  const deadline = Date.now() + 5000;
  while (!out.includes('baresip is ready') && Date.now() < deadline && proc.exitCode === null) await sleep(50);
  if (!out.includes('baresip is ready')) throw new Error(`baresip did not start:\n${out}`);

  return {
    port,
    uri: `sip:${user}@127.0.0.1:${port}`,
    output: () => out,
    /** Waits until out matches regex. */
    async waitFor(regex, ms = 10000) {
      const end = Date.now() + ms;
      while (!regex.test(out)) {
        if (Date.now() > end) throw new Error(`baresip never printed ${regex}:\n${out}`);
        await sleep(50);
      }
    },
    /** What the phone heard (decoded audio) in its newest call. */
    heard() {
      const files = fs.readdirSync(recordings).filter((f) => f.endsWith('-dec.wav')).sort();
      if (!files.length) return { seconds: 0, rms: 0, frequency: 0 };
      return soxStat(path.join(recordings, files[files.length - 1]));
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
