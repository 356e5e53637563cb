// Browser tests of the address book, call history, device settings, quality strip and
// sip:/tel: links of the dialer (web/js/contacts.js, vcard.js, history.js, devices.js,
// quality.js, links.js and their ui/ panels) against fake-server.mjs.
//
// Each test starts its own fake server: a new port is a new origin, so localStorage (where
// contacts and history live) starts empty per test even though the browser profile is shared.
// The vCard round trip imports into a second, fresh browser profile.
//
// Runs inside the loopback-only network namespace of tests/e2e/run.sh (assertInsideTestNamespace
// refuses anything else). Screenshots: tests/e2e/screenshots/book-*.

import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeServer, fakeAnswerSdp, fakeOfferSdp } from './fake-server.mjs';
import { assertInsideTestNamespace, launchBrowser, DESKTOP, PHONE } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const webRoot = path.resolve(here, '../../web');
// The committed screenshots change only on request (UPDATE_SCREENSHOTS=1); a normal run writes
// its own to tests/out/screenshots so the tree stays clean.
const shotDir = process.env.UPDATE_SCREENSHOTS ? path.join(here, 'screenshots') : path.join(here, '..', 'out', 'screenshots');
const ENCRYPTION = { browser: 'DTLS-SRTP SRTP_AES128_CM_SHA1_80', sip: 'none (RTP)' };

let browser;
let page;
let errorsBefore;
let tmp;

before(async () => {
  assertInsideTestNamespace();
  fs.mkdirSync(shotDir, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-book-'));
  browser = await launchBrowser({ toneHz: 440 });
});

after(async () => {
  await browser?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  errorsBefore = browser.errors.length;
  page = await browser.newPage();
  await page.setViewportSize(DESKTOP);
});

afterEach(async () => {
  await page.close();
  assert.deepEqual(browser.errors.slice(errorsBefore), [], 'the page logged errors');
});

async function shoot(name, p = page) {
  await p.setViewportSize(PHONE);
  await p.screenshot({ path: path.join(shotDir, `book-${name}-phone.png`), fullPage: true });
  await p.setViewportSize(DESKTOP);
  await p.screenshot({ path: path.join(shotDir, `book-${name}-desktop.png`), fullPage: true });
}

async function openPhone(options = {}, p = page, query = '') {
  const server = await startFakeServer({ webRoot, openMode: true, ...options });
  await p.goto(`${server.url}${query}`);
  await p.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
  return server;
}

const tab = (name) => page.getByRole('tab', { name: new RegExp(`^${name}`) });
const contactRow = (name) => page.locator('#contact-list > li', { has: page.getByRole('heading', { name, exact: true }) });
const historyEntries = () => page.locator('#history-list > li');

// Fills the contact form: the first number row and SIP row exist already, more are added.
async function addContact(name, numbers, sips) {
  await tab('Contacts').click();
  await page.getByRole('button', { name: 'New contact' }).click();
  const form = page.locator('#contact-form');
  await form.getByLabel('Name').fill(name);
  for (const [i, [value, label]] of numbers.entries()) {
    if (i > 0) await form.getByRole('button', { name: 'Add number' }).click();
    const row = form.locator('.entry-row[data-kind="tel"]').nth(i);
    await row.getByLabel('Number', { exact: true }).fill(value);
    await row.getByLabel('Label', { exact: false }).fill(label);
  }
  for (const [i, [value, label]] of sips.entries()) {
    if (i > 0) await form.getByRole('button', { name: 'Add SIP address' }).click();
    const row = form.locator('.entry-row[data-kind="sip"]').nth(i);
    await row.getByLabel('SIP address', { exact: true }).fill(value);
    await row.getByLabel('Label', { exact: false }).fill(label);
  }
  await form.getByRole('button', { name: 'Save contact' }).click();
  await contactRow(name).waitFor();
}

const stored = (p = page) => p.evaluate(() => window.tabphone.contacts.list().map(({ name, entries }) => ({ name, entries })));

test('a contact with two numbers and a SIP URI survives a reload, is found by search and called from the list', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  await addContact('Ada Lovelace', [['+44 20 7946 0000', 'work'], ['+1 (555) 010-0100', 'mobile']], [['ada@analytical.test', 'desk phone']]);
  await addContact('Charles Babbage', [['+44 20 7946 0999', '']], []);
  await addContact('Grace Hopper', [], [['sip:grace@navy.test', '']]);

  await page.reload();
  await page.getByRole('heading', { name: 'Phone', exact: true }).waitFor();
  assert.equal(await tab('Contacts').getAttribute('aria-selected'), 'true', 'the open tab is remembered');
  assert.deepEqual((await stored()).find((c) => c.name === 'Ada Lovelace'), {
    name: 'Ada Lovelace',
    entries: [
      { kind: 'tel', value: '+44 20 7946 0000', label: 'work' },
      { kind: 'tel', value: '+1 (555) 010-0100', label: 'mobile' },
      { kind: 'sip', value: 'sip:ada@analytical.test', label: 'desk phone' },
    ],
  });
  assert.equal(await page.locator('#contact-list > li').count(), 3);

  // Search as you type: by name (any case, any word), by digits without separators, by address.
  const search = page.getByLabel('Search contacts');
  await search.fill('ada');
  assert.deepEqual(await page.locator('#contact-list .contact-name').allTextContents(), ['Ada Lovelace']);
  await search.fill('5550100');
  assert.deepEqual(await page.locator('#contact-list .contact-name').allTextContents(), ['Ada Lovelace']);
  await search.fill('navy');
  assert.deepEqual(await page.locator('#contact-list .contact-name').allTextContents(), ['Grace Hopper']);
  await search.fill('7946');
  assert.deepEqual(await page.locator('#contact-list .contact-name').allTextContents(), ['Ada Lovelace', 'Charles Babbage']);
  await search.fill('nobody here');
  await page.locator('#contacts-empty').filter({ hasText: 'Nobody matches' }).waitFor();
  await search.fill('');
  await shoot('contacts');

  // Click the SIP address: a call to it, with the contact's name on the call panel.
  await contactRow('Ada Lovelace').getByRole('button', { name: 'Call Ada Lovelace, desk phone: sip:ada@analytical.test' }).click();
  const call = await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  assert.equal(call.to, 'sip:ada@analytical.test');
  await page.locator('#call-peer').filter({ hasText: 'Ada Lovelace' }).waitFor();
  assert.equal(await page.locator('#call-peer-uri').textContent(), 'ada@analytical.test');
  server.push({ type: 'hangup', call_id: call.call_id, code: 486, reason: 'Busy Here' });
  await page.locator('#call-result').filter({ hasText: 'busy' }).waitFor();

  // A number typed in the dial field in another form still shows the contact's name.
  await page.getByLabel('Number or SIP address').fill('+15550100100');
  await page.getByLabel('Number or SIP address').press('Enter');
  const second = await server.waitFor((m) => m.type === 'call' && m.call_id !== call.call_id, { what: 'a second call' });
  assert.equal(second.to, '+15550100100');
  await page.locator('#call-peer').filter({ hasText: 'Ada Lovelace' }).waitFor();
  await page.getByRole('button', { name: 'Cancel call' }).click();

  // The mobile number from the list: the `to` is the number without separators.
  await contactRow('Ada Lovelace').getByRole('button', { name: /mobile/ }).click();
  const third = await server.waitFor((m) => m.type === 'call' && ![call.call_id, second.call_id].includes(m.call_id), { what: 'a third call' });
  assert.equal(third.to, '+15550100100');
  await page.getByRole('button', { name: 'Cancel call' }).click();

  // Edit: rename and drop a number; delete asks first.
  await contactRow('Charles Babbage').getByRole('button', { name: 'Edit Charles Babbage' }).click();
  await page.locator('#contact-form').getByLabel('Name').fill('Charles B.');
  await page.locator('#contact-form').getByRole('button', { name: 'Save contact' }).click();
  await contactRow('Charles B.').waitFor();
  await contactRow('Charles B.').getByRole('button', { name: 'Delete Charles B.' }).click();
  await contactRow('Charles B.').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.locator('#contacts-status').filter({ hasText: 'Deleted Charles B.' }).waitFor();
  assert.deepEqual((await stored()).map((c) => c.name), ['Ada Lovelace', 'Grace Hopper']);

  // A bad number in the form is refused in words, on the field.
  await page.getByRole('button', { name: 'New contact' }).click();
  await page.locator('#contact-form').getByLabel('Name').fill('Broken');
  await page.locator('#contact-form .entry-row[data-kind="tel"]').getByLabel('Number', { exact: true }).fill('call me maybe');
  await page.locator('#contact-form').getByRole('button', { name: 'Save contact' }).click();
  await page.locator('#contact-form-error').filter({ hasText: 'is not a phone number' }).waitFor();
  await page.keyboard.press('Escape');
  assert.equal((await stored()).length, 2);
});

test('vCard export imports into a fresh profile unchanged; a malformed file imports nothing', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  await addContact('José Ñúñez, Jr.', [['+34 91 123 45 67', 'mobile'], ['0049 30 1234567', 'Büro; 2. Stock']], [['sip:jose@example.test', 'softphone']]);
  await addContact('Solo SIP', [], [['sips:solo@secure.test', '']]);
  const before = await stored();

  await tab('Contacts').click();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export vCard' }).click()]);
  const file = path.join(tmp, 'export.vcf');
  await download.saveAs(file);
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^BEGIN:VCARD\r\nVERSION:3\.0\r\n/);
  assert.match(text, /FN:José Ñúñez\\, Jr\.\r\n/);
  assert.match(text, /TEL;TYPE=CELL:\+34 91 123 45 67\r\n/);
  assert.match(text, /IMPP;X-SERVICE-TYPE=SIP:sips:solo@secure\.test\r\n/);

  // A second, fresh browser profile imports it.
  const fresh = await launchBrowser();
  t.after(() => fresh.close());
  const other = await fresh.newPage();
  const server2 = await openPhone({}, other);
  t.after(() => server2.close());
  await other.getByRole('tab', { name: 'Contacts' }).click();
  await other.locator('#contacts-file').setInputFiles(file);
  await other.locator('#contacts-status').filter({ hasText: 'Imported 2 contacts' }).waitFor();
  assert.deepEqual(await stored(other), before);
  // The same file again adds nothing.
  await other.locator('#contacts-file').setInputFiles(file);
  await other.locator('#contacts-status').filter({ hasText: 'Imported 0 contacts' }).waitFor();
  assert.equal((await stored(other)).length, 2);

  // A file from elsewhere: vCard 4.0 with folded lines, escapes, URI values, an X-SIP and an
  // Apple label, then a broken card: nothing of it may be imported.
  const good = [
    'BEGIN:VCARD', 'VERSION:4.0', 'FN:Bob the', '  Builder', 'TEL;VALUE=uri;TYPE="cell,voice":tel:+1-555-0199',
    'IMPP;TYPE=work:sip:bob@build.test', 'X-SIP:bob-home@build.test', 'NOTE:likes\\, tools', 'END:VCARD',
  ];
  const broken = ['BEGIN:VCARD', 'VERSION:3.0', 'FN:Half', 'TEL;TYPE=CELL:+1 555 0100'];
  const badFile = path.join(tmp, 'broken.vcf');
  fs.writeFileSync(badFile, [...good, ...broken].join('\r\n'));
  await other.locator('#contacts-file').setInputFiles(badFile);
  await other.locator('#contacts-error').filter({ hasText: 'Nothing was imported from broken.vcf' }).waitFor();
  assert.match(await other.locator('#contacts-error').textContent(), /no END:VCARD/);
  assert.equal((await stored(other)).length, 2, 'a malformed file imported something');
  await other.screenshot({ path: path.join(shotDir, 'book-import-error-desktop.png'), fullPage: true });

  const goodFile = path.join(tmp, 'good.vcf');
  fs.writeFileSync(goodFile, `${good.join('\n')}\n`);
  await other.locator('#contacts-file').setInputFiles(goodFile);
  await other.locator('#contacts-status').filter({ hasText: 'Imported 1 contact from good.vcf' }).waitFor();
  assert.deepEqual((await stored(other)).find((c) => c.name === 'Bob the Builder'), {
    name: 'Bob the Builder',
    entries: [
      { kind: 'tel', value: '+1-555-0199', label: 'mobile' },
      { kind: 'sip', value: 'sip:bob@build.test', label: 'work' },
      { kind: 'sip', value: 'sip:bob-home@build.test', label: '' },
    ],
  });
  assert.deepEqual(fresh.errors, []);
});

test('a missed call shows a badge and a "missed" entry; an answered one is "incoming" with its duration', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  await addContact('Dave Caller', [['+1 555 010 0777', 'mobile']], []);

  // Missed: rings, the caller gives up. The caller is in the contacts: shown by name.
  server.push({ type: 'incoming', call_id: 'in-m1', from: 'sip:+15550100777@pbx.example.test', display: '', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.locator('#incoming-peer').filter({ hasText: 'Dave Caller' }).waitFor();
  server.push({ type: 'hangup', call_id: 'in-m1', code: 487, reason: 'Request Terminated' });
  await page.locator('#call-result').filter({ hasText: 'Missed call from Dave Caller.' }).waitFor();
  await page.locator('#history-badge').filter({ hasText: '1' }).waitFor();
  assert.equal(await page.locator('#missed-pill').textContent(), '1 missed call');
  assert.match(await page.title(), /^\(1\) tabphone$/);
  // A second one from a stranger.
  server.push({ type: 'incoming', call_id: 'in-m2', from: 'sip:stranger@elsewhere.test', display: 'Stranger', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.locator('#incoming').waitFor();
  server.push({ type: 'hangup', call_id: 'in-m2', code: 487, reason: 'Request Terminated' });
  await page.locator('#history-badge').filter({ hasText: '2' }).waitFor();
  assert.match(await page.title(), /^\(2\) tabphone$/);

  // Answered, about 2 s, then the far end hangs up.
  server.push({ type: 'incoming', call_id: 'in-a1', from: 'sip:erin@example.test', display: 'Erin', to: 'sip:1001@pbx.example.test', account: 'office', sdp: fakeOfferSdp() });
  await page.getByRole('button', { name: 'Accept' }).click();
  await server.waitFor((m) => m.type === 'accept' && m.call_id === 'in-a1', { what: 'an accept' });
  await page.locator('#call-state').filter({ hasText: 'Connected' }).waitFor();
  await page.waitForTimeout(2100);
  server.push({ type: 'hangup', call_id: 'in-a1', code: 200, reason: 'OK' });
  await page.locator('#call-result').filter({ hasText: 'The other side hung up.' }).waitFor();
  // And an outgoing call that got no answer.
  await page.getByLabel('Number or SIP address').fill('sip:frank@example.test');
  await page.getByLabel('Number or SIP address').press('Enter');
  const out = await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  server.push({ type: 'hangup', call_id: out.call_id, code: 480, reason: 'Temporarily Unavailable' });
  await page.locator('#call-result').filter({ hasText: 'No answer' }).waitFor();
  assert.equal(await page.locator('#history-badge').textContent(), '2', 'only missed calls count');

  // The header button opens the history, which counts as having seen them.
  await page.locator('#missed-pill').click();
  assert.equal(await tab('History').getAttribute('aria-selected'), 'true');
  await page.locator('#history-badge').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#missed-pill').isVisible(), false);
  assert.equal(await page.title(), 'tabphone');

  const entries = historyEntries();
  assert.equal(await entries.count(), 4);
  const texts = await entries.evaluateAll((lis) => lis.map((li) => ({ kind: li.dataset.kind, who: li.querySelector('.history-who').textContent, meta: li.querySelector('.history-meta').textContent, reason: li.querySelector('.history-reason')?.textContent })));
  assert.deepEqual(texts.map((x) => [x.kind, x.who]), [['outgoing', 'frank@example.test'], ['incoming', 'Erin'], ['missed', 'Stranger'], ['missed', 'Dave Caller']]);
  assert.match(texts[1].meta, /^Incoming · Today \d\d:\d\d( [AP]M)? · 00:0[23]$/);
  assert.match(texts[0].meta, /^Outgoing · Today/);
  assert.ok(!texts[0].meta.includes('00:'), 'an unanswered call has no duration');
  assert.match(texts[0].reason, /No answer/);
  assert.match(texts[3].meta, /^Missed/);
  assert.equal(texts[3].reason, 'The caller hung up.');

  // Kept across a reload; call back from the history.
  await page.reload();
  await page.getByRole('heading', { name: 'History' }).waitFor();
  assert.equal(await historyEntries().count(), 4);
  assert.equal(await page.locator('#history-badge').isVisible(), false, 'seen calls stay seen');
  await shoot('history');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot('history-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.getByRole('button', { name: 'Call back Dave Caller' }).click();
  const back = await server.waitFor((m) => m.type === 'call' && m.call_id !== out.call_id, { what: 'a call back' });
  assert.equal(back.to, 'sip:+15550100777@pbx.example.test');
  await page.locator('#call-peer').filter({ hasText: 'Dave Caller' }).waitFor();
  await page.getByRole('button', { name: 'Cancel call' }).click();

  // Clear asks first.
  await page.getByRole('button', { name: 'Clear history' }).click();
  await page.locator('#history-confirm').getByRole('button', { name: 'Clear history' }).click();
  await page.locator('#history-empty').waitFor();
  assert.equal(await historyEntries().count(), 0);
});

test('settings list the fake devices, the meter moves, the choice persists and is used for calls', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  // Keyboard: the tabs are reached with Tab and switched with the arrow keys.
  await tab('Accounts').focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await tab('Settings').getAttribute('aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-settings');
  await page.keyboard.press('Home');
  assert.equal(await tab('Contacts').getAttribute('aria-selected'), 'true');
  await page.keyboard.press('End');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'mic-select');

  await page.getByRole('button', { name: 'Test microphone' }).click();
  await page.waitForFunction(() => document.getElementById('mic-meter').value > 0.1);
  const mics = await page.getByLabel('Microphone', { exact: true }).locator('option').allTextContents();
  assert.ok(mics.length >= 2, mics.join(' | '));
  assert.equal(mics[0], 'System default microphone');
  assert.ok(mics.slice(1).some((m) => /fake/i.test(m)), `no fake microphone listed: ${mics.join(' | ')}`);
  const speakers = await page.getByLabel('Speaker', { exact: true }).locator('option').allTextContents();
  assert.ok(speakers.length >= 2 && speakers.slice(1).some((s) => /fake/i.test(s)), `speakers: ${speakers.join(' | ')}`);
  assert.equal(await page.locator('#speaker-unsupported').isVisible(), false);

  const micOptions = await page.getByLabel('Microphone', { exact: true }).locator('option').evaluateAll((os) => os.map((o) => o.value));
  const chosenMic = micOptions.at(-1);
  await page.getByLabel('Microphone', { exact: true }).selectOption(chosenMic);
  const speakerOptions = await page.getByLabel('Speaker', { exact: true }).locator('option').evaluateAll((os) => os.map((o) => o.value));
  const chosenSpeaker = speakerOptions.at(-1);
  await page.getByLabel('Speaker', { exact: true }).selectOption(chosenSpeaker);
  await page.waitForFunction(() => document.getElementById('mic-meter').value > 0.1);
  await shoot('settings');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot('settings-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  await page.reload();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  assert.equal(await page.getByLabel('Microphone', { exact: true }).inputValue(), chosenMic);
  assert.equal(await page.getByLabel('Speaker', { exact: true }).inputValue(), chosenSpeaker);
  assert.equal(await page.locator('#remote-audio').evaluate((a) => a.sinkId), chosenSpeaker);

  // A call uses the chosen microphone.
  await page.getByLabel('Number or SIP address').fill('sip:mic@example.test');
  await page.getByLabel('Number or SIP address').press('Enter');
  await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  assert.equal(await page.evaluate(() => window.tabphone.calls.current.localStream.getAudioTracks()[0].getSettings().deviceId), chosenMic);
  await page.getByRole('button', { name: 'Cancel call' }).click();

  // The protocol handler button says what happened, in words.
  await page.getByRole('button', { name: 'Open sip: and tel: links with tabphone' }).click();
  assert.notEqual((await page.locator('#links-status').textContent()).trim(), '');
});

test('a /?call= link shows the call, ready; one click dials it', async (t) => {
  const server = await openPhone({}, page, '?call=sip%3Abob%40example.test');
  t.after(() => server.close());
  await page.locator('#link-call').waitFor();
  assert.equal(await page.locator('#link-call-peer').textContent(), 'bob@example.test');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'link-call-go');
  assert.equal(new URL(page.url()).search, '', 'the link stays in the address bar');
  assert.ok(!server.received.some(({ msg }) => msg.type === 'call'), 'a link dialled without a click');
  await page.keyboard.press('Enter');
  const call = await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  assert.equal(call.to, 'sip:bob@example.test');
  await page.getByRole('button', { name: 'Cancel call' }).click();

  // A tel: link through a login-free server, and a link that is not an address.
  await page.goto(`${server.url}?call=tel%3A%2B15550100200`);
  await page.locator('#link-call-peer').filter({ hasText: '+15550100200' }).waitFor();
  await page.getByRole('button', { name: 'Dismiss' }).click();
  assert.equal(await page.locator('#link-call').isVisible(), false);
  await page.goto(`${server.url}?call=javascript%3Aalert(1)`);
  await page.locator('#link-call-error').filter({ hasText: 'is not a number or SIP address' }).waitFor();
  assert.equal(await page.locator('#link-call-go').isVisible(), false);
});

// Real media between the page and a second Chromium (as in calls-ui.test.mjs): getStats() has
// real numbers, so the quality strip must show them.
test('the quality strip shows RTT, jitter, loss and MOS during a call with real media', async (t) => {
  const server = await openPhone();
  t.after(() => server.close());
  const farBrowser = await launchBrowser({ toneHz: 1000 });
  t.after(() => farBrowser.close());
  const far = await farBrowser.newPage();
  await far.goto(`${server.url}__blank`);

  await addContact('Tone Generator', [], [['sip:tone@example.test', 'lab']]);
  await page.getByLabel('Number or SIP address').fill('sip:tone@example.test');
  await page.getByLabel('Number or SIP address').press('Enter');
  const call = await server.waitFor((m) => m.type === 'call', { what: 'a call' });
  const answer = await far.evaluate(async (offer) => {
    const pc = new RTCPeerConnection();
    window.farPc = pc;
    window.farCandidates = [];
    const gathered = new Promise((resolve) => {
      pc.onicecandidate = (ev) => (ev.candidate ? window.farCandidates.push(ev.candidate.toJSON()) : resolve());
    });
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    for (const track of mic.getTracks()) pc.addTrack(track, mic);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered;
    return pc.localDescription.sdp.replace(/a=candidate:.*\r\n/g, '');
  }, call.sdp);
  for (const candidate of await far.evaluate(() => window.farCandidates)) server.push({ type: 'candidate', call_id: call.call_id, candidate });
  server.push({ type: 'candidate', call_id: call.call_id, candidate: null });
  server.push({ type: 'answered', call_id: call.call_id, sdp: answer, codec: 'opus/48000/2', encryption: ENCRYPTION });
  await server.waitFor((m) => m.type === 'candidate' && m.call_id === call.call_id && m.candidate === null, { what: 'end of candidates' });
  const pageCandidates = server.received.filter(({ msg }) => msg.type === 'candidate' && msg.call_id === call.call_id && msg.candidate).map(({ msg }) => msg.candidate);
  await far.evaluate(async (list) => {
    for (const c of list) await window.farPc.addIceCandidate(c);
  }, pageCandidates);
  await page.waitForFunction(() => window.tabphone.calls.pc?.connectionState === 'connected', null, { timeout: 15_000 });
  assert.equal(await page.locator('#call-peer').textContent(), 'Tone Generator');

  const strip = page.locator('#call-quality');
  await strip.waitFor();
  const value = (metric) => strip.locator(`[data-metric="${metric}"] .q-value`);
  // RTT needs the far end's first RTCP receiver report: allow it a few seconds.
  await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('[data-metric="rttMs"] .q-value')?.textContent || ''), null, { timeout: 15_000 });
  assert.match(await value('jitterMs').textContent(), /^\d+(\.\d)? ms$/);
  assert.match(await value('lossPct').textContent(), /^\d+\.\d %$/);
  assert.match(await value('mos').textContent(), /^[1-4]\.\d/);
  const mos = parseFloat(await value('mos').textContent());
  assert.ok(mos >= 4.0, `a loopback call should score well, got MOS ${mos}`);
  const rtt = parseInt(await value('rttMs').textContent(), 10);
  assert.ok(rtt < 100, `loopback RTT ${rtt} ms`);
  // The sparklines have points (one per second so far).
  await page.waitForFunction(() => (document.querySelector('[data-metric="mos"] .q-line')?.getAttribute('points') || '').split(' ').length >= 3);
  await page.waitForTimeout(1500);
  await shoot('in-call-quality');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot('in-call-quality-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
  assert.equal(await strip.isVisible(), false);
  const outgoing = await page.evaluate(() => window.tabphone.history.list()[0]);
  assert.equal(outgoing.kind, 'outgoing');
  assert.ok(outgoing.durationMs > 3000, `duration ${outgoing.durationMs}`);
  assert.deepEqual(farBrowser.errors, []);
});
