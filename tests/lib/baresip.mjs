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
export function toneFile(hz, dir = os.tmpdir(), rate = 8000, channels = 1) {
  const file = path.join(dir, `tabphone-tone-${hz}-${rate}-${channels}.wav`);
  if (!fs.existsSync(file)) {
    const r = spawnSync('sox', ['-n', '-r', String(rate), '-c', String(channels), '-b', '16', file, 'synth', '120', 'sine', String(hz), 'vol', '0.5']);
    if (r.status !== 0) throw new Error(`sox failed: ${r.stderr}`);
  }
  return file;
}

/**
 * Length, RMS and dominant frequency of a 16-bit PCM WAV file: { seconds, rms, frequency }.
 * The frequency comes from rising zero crossings of the first channel (exact for the clean
 * test tones; sox's "Rough frequency" misreads 48 kHz stereo recordings).
 */
export function soxStat(file) {
  const wav = fs.readFileSync(file);
  let pos = 12, channels = 1, rate = 8000, data = null;
  while (pos + 8 <= wav.length) {
    const id = wav.toString('ascii', pos, pos + 4);
    const size = wav.readUInt32LE(pos + 4);
    if (id === 'fmt ') { channels = wav.readUInt16LE(pos + 10); rate = wav.readUInt32LE(pos + 12); }
    if (id === 'data') { data = wav.subarray(pos + 8, Math.min(wav.length, pos + 8 + size)); break; }
    pos += 8 + size + (size & 1);
  }
  if (!data) return { seconds: 0, rms: 0, frequency: 0 };
  const frames = Math.floor(data.length / (2 * channels));
  let sumSquares = 0, crossings = 0, previous = 0;
  for (let i = 0; i < frames; i++) {
    const v = data.readInt16LE(i * 2 * channels) / 32768;
    sumSquares += v * v;
    if (previous < 0 && v >= 0) crossings++;
    previous = v;
  }
  const seconds = frames / rate;
  return { seconds, rms: frames ? Math.sqrt(sumSquares / frames) : 0, frequency: seconds ? Math.round(crossings / seconds) : 0 };
}

/** sox's "stat" of `len` seconds of a WAV file from `start`: { seconds, rms, frequency }. */
export function soxStatRange(file, start, len) {
  const r = spawnSync('sox', [file, '-n', 'trim', String(start), String(len), 'stat'], { encoding: 'utf8' });
  const num = (label) => {
    const m = r.stderr.match(new RegExp(`${label}:\\s+(-?[0-9.]+)`));
    return m ? Number(m[1]) : NaN;
  };
  return { seconds: num('Length \\(seconds\\)'), rms: num('RMS\\s+amplitude'), frequency: num('Rough\\s+frequency') };
}

// mediaenc: baresip's SDES-SRTP mode for the account ('srtp' = best effort, RTP/AVP with
// a=crypto; 'srtp-mand' = RTP/SAVP, mandatory), loading its srtp module.
export async function startBaresip({ toneHz = 880, user = 'phone', codecs = 'PCMU', dial, autoAnswer = true, lifetimeSec = 60, mediaenc } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-baresip-'));
  const recordings = path.join(dir, 'rec');
  fs.mkdirSync(recordings);
  const opus = /opus/i.test(codecs);
  // G722 first: baresip then samples at 16 kHz, and aufile must match that rate too.
  const wideband = !opus && /^g722/i.test(codecs);
  const rtpBase = 30000 + Math.floor(Math.random() * 20000);
  fs.writeFileSync(path.join(dir, 'config'), [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${port}`,
    'sip_transports udp',
    'net_interface 127.0.0.1',
    'call_local_timeout 120',
    // Opus runs at 48 kHz stereo: baresip 1.0's aufile source must match the codec exactly.
    `audio_source aufile,${opus ? toneFile(toneHz, os.tmpdir(), 48000, 2) : toneFile(toneHz, os.tmpdir(), wideband ? 16000 : 8000)}`,
    'audio_player aubridge,nil',
    'audio_alert aubridge,nil',
    `audio_srate ${opus ? 48000 : wideband ? 16000 : 8000}`,
    `audio_channels ${opus ? 2 : 1}`,
    `rtp_ports ${rtpBase}-${rtpBase + 200}`,
    'module_path /usr/lib/baresip/modules',
    'module g711.so', 'module g722.so', 'module opus.so', 'module aufile.so', 'module aubridge.so', 'module sndfile.so',
    'module_app account.so', 'module_app menu.so',
    ...(mediaenc ? ['module srtp.so'] : []),
    `snd_path ${recordings}`,
    '',
  ].join('\n'));
  const answer = autoAnswer ? ';answermode=auto' : '';
  // baresip names Opus and G722 by their full formats (G722 samples at 16 kHz).
  const fullName = (c) => (/^opus$/i.test(c) ? 'opus/48000/2' : /^g722$/i.test(c) ? 'G722/16000/1' : c);
  const codecList = codecs.split(',').map((c) => fullName(c.trim())).join(',');
  const enc = mediaenc ? `;mediaenc=${mediaenc}` : '';
  fs.writeFileSync(path.join(dir, 'accounts'), `<sip:${user}@127.0.0.1:${port}>;regint=0${answer}${enc};audio_codecs=${codecList}\n`);

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
    /**
     * What the phone heard in slices of its newest recording: segments is [[start, len], ...]
     * in seconds from the recording's start (its first decoded frame); returns one
     * { seconds, rms, frequency } per slice. For checks like "silent while muted".
     */
    heardSegments(segments) {
      const files = fs.readdirSync(recordings).filter((f) => f.endsWith('-dec.wav')).sort();
      if (!files.length) return segments.map(() => ({ seconds: 0, rms: 0, frequency: 0 }));
      const file = path.join(recordings, files[files.length - 1]);
      return segments.map(([start, len]) => soxStatRange(file, start, len));
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
