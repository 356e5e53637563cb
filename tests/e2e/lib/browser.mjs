// browser: headless Chromium for the e2e tests, set up to be a WebRTC client.
//
//   assertInsideTestNamespace();                 // refuse to run anywhere but a test netns
//   const b = await launchBrowser({ toneHz: 440 });
//   const page = await b.newPage();              // console errors land in b.errors
//   ...
//   await b.close();
//
// The fake microphone plays a sine WAV made with sox (the fake capture device loops it), so a
// test can check that the tone comes back through a call. The flags are the ones
// /work/shared/testing-notes.md found necessary: without --allow-loopback-in-peer-connection
// Chromium offers no 127.0.0.1 candidate, mDNS hiding would replace host addresses by .local
// names nobody can resolve here, and --mute-audio (never muting the <audio> element, which
// would zero the WebRTC output) keeps the test machine quiet.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// Every device must be loopback or ifb, every address loopback (or IPv6 link-local on the
// dead-end ifb), and there must be no default route: then nothing Chromium does (background
// requests, mDNS, ICE) can leave this machine.
export function assertInsideTestNamespace() {
  const how = 'run the browser tests through tests/e2e/run.sh or scripts/test (a loopback-only network namespace)';
  const links = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' }));
  for (const link of links) {
    const kind = link.link_type === 'loopback' ? 'loopback' : link.linkinfo?.info_kind;
    assert.ok(kind === 'loopback' || kind === 'ifb', `network device ${link.ifname} (${kind}) present: ${how}`);
  }
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs) {
      const ok = a.family === 'IPv4' ? a.address.startsWith('127.') : a.address === '::1' || /^fe80:/i.test(a.address);
      assert.ok(ok, `${name} has address ${a.address}: ${how}`);
    }
  }
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show'], { encoding: 'utf8' }));
  assert.deepEqual(routes.filter((r) => r.dst === 'default'), [], `a default route exists: ${how}`);
  assert.ok(os.networkInterfaces().lo, `loopback is down: ${how}`);
}

// A mono 16-bit 48 kHz sine of `seconds`, at half scale (loud enough to measure, far from
// clipping after Opus).
export function makeToneWav(dir, hz, seconds = 60) {
  const file = path.join(dir, `tone-${hz}.wav`);
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', file, 'synth', String(seconds), 'sine', String(hz), 'vol', '0.5']);
  return file;
}

// Starts Chromium with a fresh profile. Returns { context, errors, newPage(), close() }:
// `errors` collects console errors, uncaught page errors and failed requests of every page
// of the context (tests assert it is empty, minus what they expect).
export async function launchBrowser({ toneHz = 440, viewport = DESKTOP, extraArgs = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-chromium-'));
  const wav = makeToneWav(dir, toneHz);
  const profile = path.join(dir, 'profile');
  fs.mkdirSync(profile);
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      ignoreHTTPSErrors: true, // the server under test uses the self-signed test certificate
      viewport,
      args: [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
        '--allow-loopback-in-peer-connection',
        '--disable-features=WebRtcHideLocalIpsWithMdns',
        '--autoplay-policy=no-user-gesture-required',
        '--mute-audio',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        ...extraArgs,
      ],
    });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const errors = [];
  const watch = (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);

  return {
    context,
    errors,
    toneWav: wav,
    async newPage() {
      return context.newPage();
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
