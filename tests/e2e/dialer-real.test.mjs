// The web dialer (web/) driven through its own UI against the REAL server and real SIP peers:
// headless Chromium <-> tabphone <-> baresip phones, with Kamailio as the registrar of a
// bring-your-own account. The tab's fake microphone plays 440 Hz; the phones play 880 Hz and
// record what they hear (tests/lib/baresip.mjs), so audio is checked in both directions:
// the page's side with its test hook window.tabphone.measureRemoteTone(), the phone's side
// with sox over its recording.
//
// The tests share one server, one Kamailio and one logged-in page and run in order (node:test
// runs a file's tests one after the other). Runs inside the loopback-only network namespace of
// tests/e2e/run.sh. Screenshots: tests/e2e/screenshots/real-*.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, tabphoneBin } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { startKamailio } from '../lib/sip-peers.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP, PHONE } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The committed screenshots change only on request (UPDATE_SCREENSHOTS=1); a normal run writes
// its own to tests/out/screenshots so the tree stays clean.
const shotDir = process.env.UPDATE_SCREENSHOTS ? path.join(here, 'screenshots') : path.join(here, '..', 'out', 'screenshots');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const near = (f, want, tol = 15) => Math.abs(f - want) <= tol;

const USER = 'alice';
const PASSWORD = 'correct horse battery';
const KAM_USERS = { bob: 'bob-Secret-7' };

let srv;
let kam;
let browser;
let page;
const phones = []; // every baresip started, stopped in after()

function hashPassword(pw) {
  const r = spawnSync(tabphoneBin, ['--hash-password'], { input: `${pw}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function phone(options) {
  const p = await startBaresip(options);
  phones.push(p);
  return p;
}

before(async () => {
  assertInsideTestNamespace();
  fs.mkdirSync(shotDir, { recursive: true });
  kam = await startKamailio({ users: KAM_USERS });
  srv = await startServer({
    config: {
      // Calls to sip:alice@127.0.0.1:<sipPort> ring the tab (no registration needed).
      'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' },
      [`user ${USER}`]: { password_hash: hashPassword(PASSWORD), accounts: '*' },
    },
  });
  browser = await launchBrowser({ toneHz: 440 });
  page = await browser.newPage();
  await page.setViewportSize(DESKTOP);
});

after(async () => {
  await browser?.close();
  for (const p of phones) await p.stop().catch(() => {});
  await srv?.stop();
  await kam?.stop();
  assert.deepEqual(browser?.errors ?? [], [], 'the page logged errors');
});

// A test that failed half-way must not leave its call to the next one.
afterEach(async () => {
  await page.evaluate(() => {
    const { calls } = window.tabphone;
    for (const call of [...calls.calls.values()]) calls.hangup(call);
  }).catch(() => {});
});

async function shoot(name) {
  // From the top: a page scrolled to a focused button would draw the sticky header mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(shotDir, `real-${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(shotDir, `real-${name}-desktop.png`), fullPage: true });
}

const callState = () => page.locator('#call-state');
const result = () => page.locator('#call-result');
const tab = (name) => page.getByRole('tab', { name: new RegExp(`^${name}`) });

async function logIn() {
  const form = page.locator('#login-form');
  await form.getByLabel('User name').fill(USER);
  await form.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
}

// Connected in the UI and the media path up (ICE + DTLS), so audio measurements mean something.
async function waitConnected() {
  await callState().filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
  await page.waitForFunction(() => window.tabphone.calls.current?.mediaState === 'connected', null, { timeout: 15000 });
}

async function dialTyped(uri) {
  await page.getByLabel('Number or SIP address').fill(uri);
  await page.getByRole('button', { name: 'Call', exact: true }).click();
}

async function hangUp() {
  await page.getByRole('button', { name: 'Hang up' }).click();
  await result().filter({ hasText: 'You hung up.' }).waitFor();
}

// The page hears the phone's 880 Hz tone.
async function assertHears880(what) {
  const m = await page.evaluate(() => window.tabphone.measureRemoteTone(1000));
  assert.ok(near(m.frequency, 880), `${what}: the tab heard ${m.frequency} Hz, expected the phone's 880 Hz`);
  assert.ok(m.level > -60, `${what}: the tone level ${m.level} dB is silence`);
}

// After hang-up the phone's recording holds the tab's 440 Hz.
async function assertPhoneHeard440(p, what) {
  await p.waitFor(/terminated|closed/);
  await sleep(500);
  const heard = p.heard();
  assert.ok(heard.seconds > 1.5, `${what}: the phone recorded ${heard.seconds} s`);
  assert.ok(near(heard.frequency, 440, 20), `${what}: the phone heard ${heard.frequency} Hz, expected the tab's 440 Hz`);
  assert.ok(heard.rms > 0.05, `${what}: the phone heard rms ${heard.rms}`);
}

test('log in through the form; a bring-your-own account registers with Kamailio', async () => {
  await page.goto(`${srv.httpsUrl}/?rawaudio=1`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await logIn();
  assert.equal(await page.locator('#whoami').textContent(), `Signed in as ${USER}`);

  const form = page.locator('#byo-form');
  await form.getByLabel('SIP address').fill('sip:bob@127.0.0.1');
  await form.getByLabel('Password').fill(KAM_USERS.bob);
  await form.getByLabel(/Outbound proxy/).fill(`sip:127.0.0.1:${kam.port}`);
  await form.getByRole('button', { name: 'Register account' }).click();
  const row = page.locator('#account-list > li', { hasText: 'bob@127.0.0.1' });
  await row.locator('.badge').filter({ hasText: 'Registered' }).waitFor({ timeout: 10000 });
  assert.ok(kam.registers().some((r) => r.user === 'bob'), 'Kamailio saw no REGISTER from bob');
  await shoot('accounts');
});

test('dial a SIP phone from the field: 880 Hz heard here, DTMF from the keypad reaches the phone, 440 Hz there', async () => {
  const far = await phone({ toneHz: 880 });
  await dialTyped(far.uri);
  await waitConnected();
  assert.match(await page.locator('#call-badge').textContent(), /PCMU\/8000.*DTLS-SRTP/s);
  await sleep(2000);
  await assertHears880('outbound call');
  await page.locator('#call-quality').waitFor();
  await shoot('in-call');

  // Keypad clicks: `dtmf` to the server, RFC 4733 events on the SIP leg, printed by baresip.
  for (const digit of ['1', '5', '9']) {
    await page.getByRole('button', { name: digit, exact: true }).click();
    await sleep(400);
  }
  await page.getByRole('button', { name: 'pound' }).click();
  await page.locator('#dtmf-sent').filter({ hasText: 'Sent: 159#' }).waitFor();
  // baresip 1.0 prints each RFC 4733 event twice: "received event: '5' (end=0)", then end=1.
  await far.waitFor(/received event: '#' \(end=1\)/, 5000);
  const digits = [...far.output().matchAll(/received event: '(.)' \(end=1\)/g)].map((m) => m[1]);
  assert.deepEqual(digits, ['1', '5', '9', '#'], `the phone saw ${digits.join('')}`);

  await hangUp();
  await assertPhoneHeard440(far, 'outbound call');
});

test('mute: the phone stops receiving tone energy while muted, and gets it back after', async () => {
  const far = await phone({ toneHz: 880 });
  await dialTyped(far.uri);
  await waitConnected();
  const t0 = Date.now();
  await sleep(3000);
  await page.getByRole('button', { name: 'Mute' }).click();
  const mutedAt = (Date.now() - t0) / 1000;
  await sleep(3000);
  await page.getByRole('button', { name: 'Unmute' }).click();
  const unmutedAt = (Date.now() - t0) / 1000;
  await sleep(3000);
  await hangUp();
  await far.waitFor(/terminated|closed/);
  await sleep(500);
  // The recording starts at the phone's first decoded frame, about when the media connected
  // (t0): keep 0.7 s away from each switch for that skew and the jitter buffer.
  const [before, muted, afterwards] = far.heardSegments([
    [0.5, mutedAt - 1.2],
    [mutedAt + 0.7, unmutedAt - mutedAt - 1.4],
    [unmutedAt + 0.7, 1.5],
  ]);
  console.log(`# mute at ${mutedAt.toFixed(1)} s, unmute at ${unmutedAt.toFixed(1)} s; phone rms: `
    + `${before.rms} before, ${muted.rms} muted, ${afterwards.rms} after`);
  assert.ok(before.rms > 0.05, `before muting the phone heard rms ${before.rms}`);
  assert.ok(afterwards.rms > 0.05, `after unmuting the phone heard rms ${afterwards.rms}`);
  assert.ok(muted.rms < before.rms / 20, `while muted the phone still heard rms ${muted.rms} (unmuted: ${before.rms})`);
});

// baresip 1.0 prints "got re-INVITE" but not the SDP direction without -v; the direction on the
// wire (a=sendonly, then a=sendrecv) is checked at SIP level by the server's own hold tests.
test('hold and resume from the panel: the phone gets a re-INVITE for each, silence while held', async () => {
  const far = await phone({ toneHz: 880 });
  await dialTyped(far.uri);
  await waitConnected();
  await sleep(1500);
  const reinvites = () => (far.output().match(/got re-INVITE/g) || []).length;
  const before = reinvites();
  await page.getByRole('button', { name: 'Hold', exact: true }).click();
  await callState().filter({ hasText: 'On hold' }).waitFor({ timeout: 10000 });
  assert.equal(await page.getByRole('button', { name: 'Resume' }).getAttribute('aria-pressed'), 'true');
  await far.waitFor(/got re-INVITE/);
  await srv.waitForLog(/on hold \(tab hold\)/);
  await sleep(1500);
  // While held the phone answers a=recvonly and sends nothing: the tab hears silence.
  const silent = await page.evaluate(() => window.tabphone.measureRemoteTone(500));
  assert.ok(silent.level < -80, `while held the tab hears ${silent.level} dB`);
  await shoot('on-hold');

  await page.getByRole('button', { name: 'Resume' }).click();
  await callState().filter({ hasText: 'Connected' }).waitFor({ timeout: 10000 });
  const deadline = Date.now() + 5000;
  while (reinvites() < before + 2 && Date.now() < deadline) await sleep(100);
  assert.ok(reinvites() >= before + 2, `the phone saw ${reinvites() - before} re-INVITEs, expected hold + resume`);
  await srv.waitForLog(/hold ended \(tab hold\)/);
  await sleep(2000);
  await assertHears880('after resume');
  await hangUp();
  await far.waitFor(/terminated|closed/);
  await sleep(500);
  // The resume restarts baresip's audio stream: its newest recording starts there.
  const heard = far.heard();
  assert.ok(near(heard.frequency, 440, 20), `after resume the phone heard ${heard.frequency} Hz`);
});

test('a contact with a SIP address survives a reload and is called from the list', async () => {
  const far = await phone({ toneHz: 880, user: 'desk' });
  await tab('Contacts').click();
  await page.getByRole('button', { name: 'New contact' }).click();
  const form = page.locator('#contact-form');
  await form.getByLabel('Name').fill('Desk Phone');
  await form.locator('.entry-row[data-kind="sip"]').first().getByLabel('SIP address', { exact: true }).fill(far.uri);
  await form.getByRole('button', { name: 'Save contact' }).click();
  const row = page.locator('#contact-list > li', { has: page.getByRole('heading', { name: 'Desk Phone', exact: true }) });
  await row.waitFor();

  await page.reload();
  // The password is not kept in the page: after a reload the user signs in again.
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await logIn();
  await tab('Contacts').click();
  await row.waitFor();
  await row.getByRole('button', { name: new RegExp(`^Call Desk Phone.*${far.uri.replace('sip:', '')}`) }).click();
  await page.locator('#call-peer').filter({ hasText: 'Desk Phone' }).waitFor();
  await waitConnected();
  await sleep(2000);
  await assertHears880('call from the contacts');
  await hangUp();
  await assertPhoneHeard440(far, 'call from the contacts');
});

test('an incoming call rings, is accepted, carries audio both ways and is in the history with its duration', async () => {
  const caller = await phone({ toneHz: 880, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  await page.locator('#incoming').waitFor({ timeout: 10000 });
  assert.match(await page.locator('#incoming').textContent(), /caller@127\.0\.0\.1/);
  assert.equal(await page.evaluate(() => window.tabphone.tones.playing), 'ring');
  await shoot('incoming');
  await page.getByRole('button', { name: 'Accept' }).click();
  await waitConnected();
  await sleep(3000);
  await assertHears880('incoming call');
  await hangUp();
  await assertPhoneHeard440(caller, 'incoming call');

  await tab('History').click();
  const entry = page.locator('#history-list > li').first();
  assert.equal(await entry.getAttribute('data-kind'), 'incoming');
  assert.match(await entry.locator('.history-kind').textContent(), /Incoming/);
  assert.match(await entry.locator('.history-duration').textContent(), /00:0[3-9]/);
  assert.match(await entry.textContent(), /caller@127\.0\.0\.1/);
});

test('a caller who gives up before the tab answers is a missed call with a badge', async () => {
  await tab('Contacts').click(); // away from History, so the missed call stays unseen
  // baresip quits (and CANCELs its INVITE) after 3 s; nobody answers here.
  const caller = await phone({ toneHz: 880, user: 'impatient', dial: `sip:alice@127.0.0.1:${srv.sipPort}`, lifetimeSec: 3 });
  await page.locator('#incoming').waitFor({ timeout: 10000 });
  await result().filter({ hasText: 'Missed call from' }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#incoming').isVisible(), false);
  await page.locator('#history-badge').filter({ hasText: '1' }).waitFor();
  assert.equal(await page.locator('#missed-pill').isVisible(), true);
  await shoot('missed');
  await tab('History').click();
  const entry = page.locator('#history-list > li').first();
  assert.equal(await entry.getAttribute('data-kind'), 'missed');
  assert.match(await entry.textContent(), /impatient@127\.0\.0\.1/);
  await page.locator('#history-badge').waitFor({ state: 'hidden' });
  await caller.stop();
});

test('call waiting: a second caller while in a call; Accept holds the first call, both calls carry audio', async () => {
  const far = await phone({ toneHz: 880 });
  await dialTyped(far.uri);
  await waitConnected();
  await sleep(1000);
  const caller = await phone({ toneHz: 880, user: 'second', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  const banner = page.locator('#call-waiting');
  await banner.waitFor({ timeout: 10000 });
  assert.match(await page.locator('#waiting-hint').textContent(), /on hold/);
  assert.equal(await page.evaluate(() => window.tabphone.tones.playing), 'waiting');
  await page.waitForTimeout(1000);
  await shoot('call-waiting');

  await banner.getByRole('button', { name: 'Accept' }).click();
  await page.locator('#call-peer').filter({ hasText: 'second' }).waitFor();
  await waitConnected();
  await far.waitFor(/got re-INVITE/);
  await page.locator('#other-calls > li').filter({ hasText: 'On hold' }).waitFor();
  await sleep(2500);
  await assertHears880('the waiting call, accepted');
  await shoot('two-calls');

  // Hang up the second call: the first comes back on screen, still on hold; resume it.
  await page.getByRole('button', { name: 'Hang up' }).click();
  await callState().filter({ hasText: 'On hold' }).waitFor();
  await page.getByRole('button', { name: 'Resume' }).click();
  await callState().filter({ hasText: 'Connected' }).waitFor({ timeout: 10000 });
  await sleep(2000);
  await assertHears880('the first call, resumed');
  await hangUp();
  await assertPhoneHeard440(caller, 'the waiting call');
  await assertPhoneHeard440(far, 'the first call');
});

test('blind transfer from the panel: the phone is connected to the typed target', async () => {
  const far = await phone({ toneHz: 880 });
  const carol = await phone({ toneHz: 660, user: 'carol' });
  await dialTyped(far.uri);
  await waitConnected();
  await sleep(1000);
  await page.getByRole('button', { name: 'Transfer', exact: true }).click();
  await page.getByLabel('Transfer to').fill(carol.uri);
  await page.getByRole('button', { name: 'Transfer now' }).click();
  await result().filter({ hasText: 'The call was transferred.' }).waitFor({ timeout: 20000 });
  await carol.waitFor(/Call established/);
  await tab('History').click();
  assert.match(await page.locator('#history-list > li').first().textContent(), /transferred/);
});
