// Browser tests of the web dialer's foundation (web/): connection status, login, accounts,
// bring-your-own accounts, reconnect. Headless Debian Chromium driven by playwright-core talks
// to fake-server.mjs, which serves web/ with the production CSP and fakes /ws.
//
// NETWORK ISOLATION: this machine has an outside interface, and Chromium must never reach it
// (background requests, mDNS, anything). So this file refuses to run unless its process sits
// in a fresh network namespace with loopback addresses only and no route out. Run it as root
// through tests/e2e/run.sh, which does:
//
//   unshare -n sh -c 'ip link set lo up && ip link add tponline type ifb &&
//     ip addr add 127.0.0.2/32 dev tponline && ip link set tponline up && node --test ...'
//
// The ifb device (a dead end, wired to nothing) is there only because with nothing but lo
// Chromium says navigator.onLine === false, and the page would then show "Offline". The fake
// server listens on 127.0.0.1 inside the same namespace. Screenshots land in tests/e2e/screenshots/foundation-*-{desktop,phone}.png.

import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFakeServer } from './fake-server.mjs';
import { assertInsideTestNamespace, DESKTOP, PHONE } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const webRoot = path.resolve(here, '../../web');
// The committed screenshots change only on request (UPDATE_SCREENSHOTS=1); a normal run writes
// its own to tests/out/screenshots so the tree stays clean.
const shotDir = process.env.UPDATE_SCREENSHOTS ? path.join(here, 'screenshots') : path.join(here, '..', 'out', 'screenshots');

let browser;
let context;
let page;
let problems; // console errors, page errors, failed requests of the current test
let allowed; // patterns of browser-made console errors a test expects (never our code's)

before(async () => {
  assertInsideTestNamespace();
  fs.mkdirSync(shotDir, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
});

beforeEach(async () => {
  problems = [];
  allowed = [];
  context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
});

afterEach(async () => {
  await context.close();
  const unexpected = problems.filter((p) => !allowed.some((re) => re.test(p)));
  assert.deepEqual(unexpected, [], 'the page logged errors');
});

// Screenshots of the current state at both sizes; ends back at desktop size.
async function shoot(name) {
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(shotDir, `foundation-${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(shotDir, `foundation-${name}-desktop.png`), fullPage: true });
}

const statusText = () => page.locator('#status-text');
const accountRow = (title) => page.locator('#account-list > li', { has: page.getByRole('heading', { name: title, exact: true }) });

async function signIn(user, password) {
  const form = page.locator('#login-form');
  await form.getByLabel('User name').fill(user);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
}

test('a server that requires login gets the login form, and a wrong password says so', async (t) => {
  const server = await startFakeServer({ webRoot });
  t.after(() => server.close());
  await page.goto(server.url);

  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await assert.doesNotReject(statusText().filter({ hasText: /^Connected$/ }).waitFor());
  assert.equal(await page.locator('#accounts-view').isVisible(), false);
  assert.equal(await page.locator('#byo-view').isVisible(), false);
  // The form is ready to type into.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-user');
  await shoot('login');

  await signIn('alice', 'not-her-password');
  const error = page.locator('#login-error');
  await error.filter({ hasText: 'Wrong user name or password.' }).waitFor();
  assert.equal(await page.locator('#login-password').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#accounts-view').isVisible(), false);
  await shoot('login-error');
});

test('the right password shows the accounts with their registration states', async (t) => {
  const server = await startFakeServer({ webRoot });
  t.after(() => server.close());
  await page.goto(server.url);
  await signIn('alice', 'wonderland');

  await page.getByRole('heading', { name: 'Phone accounts' }).waitFor();
  assert.equal(await page.locator('#login-view').isVisible(), false);
  assert.equal(await page.locator('#whoami').textContent(), 'Signed in as alice');

  const office = accountRow('Office line');
  assert.equal(await office.locator('.badge').textContent(), 'Registered');
  assert.equal(await office.locator('.badge').getAttribute('data-state'), 'registered');
  // A configured account stays registered on the server: no Register / Unregister while it is.
  assert.equal(await office.getByRole('button').count(), 0);
  assert.equal(await office.locator('.account-kept').textContent(), 'Kept registered by the server.');

  const trunk = accountRow('Backup trunk');
  assert.equal(await trunk.locator('.badge').textContent(), 'Failed');
  assert.equal(await trunk.getByRole('button', { name: 'Retry registering Backup trunk now' }).textContent(), 'Retry now');
  assert.match(await trunk.locator('.account-detail').textContent(),
    /refused this account\. Check the username and password\. \(403 Forbidden\) Next try at \d\d:\d\d( [AP]M)?\./);

  // An account named only by its configured name, never registered: register it by hand.
  const lab = accountRow('lab');
  assert.equal(await lab.locator('.badge').textContent(), 'Not registered');
  await lab.getByRole('button', { name: 'Register lab', exact: true }).click();
  await lab.locator('.badge', { hasText: 'Registered' }).waitFor();
  assert.ok(server.received.some(({ msg }) => msg.type === 'register' && msg.account === 'lab'));
  assert.equal(await lab.getByRole('button').count(), 0, 'configured accounts have no Unregister');

  await shoot('accounts');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot('accounts-dark');
});

test('a bring-your-own account registers, and a wrong password is explained', async (t) => {
  const server = await startFakeServer({ webRoot });
  t.after(() => server.close());
  await page.goto(server.url);
  await signIn('alice', 'wonderland');
  await page.getByRole('heading', { name: 'Bring your own SIP account' }).waitFor();

  const form = page.locator('#byo-form');
  await form.getByLabel('SIP address').fill('bob@sip.example.test');
  await form.getByLabel('Authentication username').fill('bob');
  await form.getByLabel('Password').fill('wrong');
  await form.getByRole('button', { name: 'Register account' }).click();
  const bob = accountRow('bob@sip.example.test');
  await bob.locator('.badge', { hasText: 'Failed' }).waitFor();
  assert.match(await bob.locator('.account-detail').textContent(), /rejected the username or password\. \(401 Unauthorized\)/);

  await form.getByLabel('SIP address').fill('sip:bob@sip.example.test');
  await form.getByLabel('Authentication username').fill('bob');
  await form.getByLabel('Password').fill('sip-secret');
  await form.getByLabel('Transport').selectOption('tls');
  await form.getByLabel('Remember on this device').check();
  await form.getByRole('button', { name: 'Register account' }).click();
  await bob.locator('.badge', { hasText: 'Registered' }).waitFor();

  const sent = server.received.filter(({ msg }) => msg.type === 'register' && msg.uri).at(-1).msg;
  assert.deepEqual({ ...sent, id: undefined }, {
    type: 'register', id: undefined, uri: 'sip:bob@sip.example.test', username: 'bob', password: 'sip-secret', transport: 'tls',
  });
  // Ticked: kept on this device. The form is cleared for the next account.
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('tabphone.byo.v1')));
  assert.equal(stored[0].password, 'sip-secret');
  assert.equal(await form.getByLabel('Password').inputValue(), '');
  await shoot('byo');
});

test('a dropped connection shows the reconnect countdown with backoff, then recovers', async (t) => {
  const server = await startFakeServer({ webRoot });
  t.after(() => server.close());
  await page.goto(server.url);
  await signIn('alice', 'wonderland');
  // One remembered BYO account, one that was only sent once.
  const form = page.locator('#byo-form');
  for (const [user, remember] of [['carol', true], ['dave', false]]) {
    await form.getByLabel('SIP address').fill(`sip:${user}@sip.example.test`);
    await form.getByLabel('Authentication username').fill(user);
    await form.getByLabel('Password').fill('sip-secret');
    await form.getByLabel('Remember on this device').setChecked(remember);
    await form.getByRole('button', { name: 'Register account' }).click();
    await accountRow(`${user}@sip.example.test`).locator('.badge', { hasText: 'Registered' }).waitFor();
  }
  const connectionsBefore = server.connections;

  // The server vanishes, and the first two reconnects are cut right away too: the wait must
  // grow 1 s -> 2 s -> 4 s.
  await page.evaluate(() => {
    window.statusTexts = [];
    const node = document.getElementById('status-text');
    new MutationObserver(() => window.statusTexts.push(node.textContent))
      .observe(node, { childList: true, characterData: true, subtree: true });
  });
  server.dropClients({ thenDropNext: 2 });
  await statusText().filter({ hasText: 'Reconnecting in 4 s' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#accounts-stale').isVisible(), true);
  assert.equal(await accountRow('Backup trunk').getByRole('button', { name: 'Retry registering Backup trunk now' }).isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Retry now' }).isVisible(), true);
  await shoot('reconnecting');

  await page.waitForFunction(() => window.statusTexts.at(-1) === 'Connected'
    && window.statusTexts.includes('Reconnecting in 4 s'));
  // Each wait starts at its full length and counts down to 1 s; the starts are 1, 2, 4.
  const texts = await page.evaluate(() => window.statusTexts);
  const starts = texts.filter((x, i) => x.startsWith('Reconnecting in') && !texts[i - 1]?.startsWith('Reconnecting in'));
  assert.deepEqual(starts, ['Reconnecting in 1 s', 'Reconnecting in 2 s', 'Reconnecting in 4 s']);
  assert.ok(!texts.includes('Reconnecting in 0 s'), texts.join(' | '));
  assert.equal(server.connections, connectionsBefore + 3);

  // Logged in again by itself, the remembered BYO account registered again, the other one
  // waiting for its password.
  await accountRow('Office line').locator('.badge', { hasText: 'Registered' }).waitFor();
  await accountRow('carol@sip.example.test').locator('.badge', { hasText: 'Registered' }).waitFor();
  const dave = accountRow('dave@sip.example.test');
  assert.equal(await dave.locator('.badge').textContent(), 'Not registered');
  assert.match(await dave.locator('.account-note').textContent(), /enter the password again/);
  assert.equal(await page.locator('#accounts-stale').isVisible(), false);
  assert.equal(await page.locator('#login-view').isVisible(), false);
  const last = server.connections;
  const relogin = server.received.filter(({ conn }) => conn === last).map(({ msg }) => msg.type);
  assert.deepEqual(relogin.slice(0, 2), ['login', 'register']);

  // Register on dave brings his details back into the form, waiting for the password.
  await dave.getByRole('button', { name: 'Register dave@sip.example.test', exact: true }).click();
  assert.equal(await form.getByLabel('SIP address').inputValue(), 'sip:dave@sip.example.test');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'byo-password');
});

test('an open-mode server is used without login; bring-your-own stays hidden when off', async (t) => {
  const server = await startFakeServer({ webRoot, openMode: true, byoAccounts: false });
  t.after(() => server.close());
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Phone accounts' }).waitFor();
  assert.equal(await page.locator('#login-view').isVisible(), false);
  assert.equal(await page.locator('#byo-view').isVisible(), false);
  assert.equal(await page.locator('#whoami').isVisible(), false);
  assert.equal(await statusText().textContent(), 'Connected');
  assert.ok(!server.received.some(({ msg }) => msg.type === 'login'));
  await shoot('open-mode');
});

test('signing in while the server is unreachable says so, and works once it is back', async (t) => {
  const server = await startFakeServer({ webRoot });
  t.after(() => server.close());
  // Refused upgrades make Chromium itself log the failed handshake; that line is expected here.
  allowed.push(/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed/);
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  server.setRefuseUpgrades(true);
  server.dropClients();
  await statusText().filter({ hasText: /^Reconnecting in/ }).waitFor();
  await signIn('alice', 'wonderland');
  await page.locator('#login-error').filter({ hasText: 'Cannot reach the server' }).waitFor();
  await shoot('login-unreachable');

  server.setRefuseUpgrades(false);
  await page.getByRole('button', { name: 'Retry now' }).click();
  await statusText().filter({ hasText: /^Connected$/ }).waitFor();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Phone accounts' }).waitFor();
});

test('while the browser is offline the status says so, and it reconnects when back online', async (t) => {
  const server = await startFakeServer({ webRoot, openMode: true });
  t.after(() => server.close());
  // Attempts made while offline fail inside Chromium, which logs them itself.
  allowed.push(/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed/);
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Phone accounts' }).waitFor();

  await context.setOffline(true);
  server.dropClients();
  await statusText().filter({ hasText: /^Offline · retrying in \d+ s$/ }).waitFor();
  assert.equal(await page.locator('#status').getAttribute('data-state'), 'offline');
  await shoot('offline');

  await context.setOffline(false); // the "online" event skips the rest of the wait
  await statusText().filter({ hasText: /^Connected$/ }).waitFor({ timeout: 3000 });
});
