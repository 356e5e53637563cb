// main: builds the page's objects and decides which view is on screen.
//
//   signaling (socket, reconnect, keepalive)
//     -> session (login / welcome per server session)
//       -> accounts (registration states, BYO accounts)
//   ui/* draw them; this file only wires them together and switches views.

import { SignalingClient } from './signaling.js';
import { Session, Phase } from './session.js';
import { AccountList } from './accounts.js';
import { byId, show } from './ui/dom.js';
import { mountStatusBar } from './ui/status-bar.js';
import { mountLoginForm } from './ui/login-form.js';
import { mountAccountsPanel } from './ui/accounts-panel.js';
import { mountByoForm } from './ui/byo-form.js';

const signaling = new SignalingClient();
const session = new Session(signaling);
const accounts = new AccountList(signaling, session);

mountStatusBar(signaling);
const loginForm = mountLoginForm(session);
mountAccountsPanel(accounts, signaling);
mountByoForm(accounts);

const views = {
  connecting: byId('connecting-view'),
  login: byId('login-view'),
  accounts: byId('accounts-view'),
  byo: byId('byo-view'),
};
const whoami = byId('whoami');
let everReady = false; // once accounts were shown, a reconnect keeps them up (marked stale)

session.addEventListener('phase', (ev) => {
  const { phase } = ev.detail;
  const wasLogin = !views.login.hidden;
  const login = phase === Phase.LOGIN || (phase === Phase.AUTHENTICATING && wasLogin);
  const ready = phase === Phase.READY || (everReady && !login);
  show(views.login, login);
  show(views.accounts, ready);
  show(views.byo, ready && accounts.byoAllowed);
  show(views.connecting, !login && !ready);
  if (login && !wasLogin) loginForm.focus();
  if (phase === Phase.READY && wasLogin) byId('accounts-title').focus(); // focus was in the vanished form
});

session.addEventListener('welcome', (ev) => {
  everReady = true;
  const { user, open_mode: openMode } = ev.detail;
  whoami.textContent = user && !openMode ? `Signed in as ${user}` : '';
  show(whoami, whoami.textContent !== '');
  show(views.byo, accounts.byoAllowed);
});

// Exposed for tests and for debugging from the console; nothing in the page reads it.
window.tabphone = { signaling, session, accounts };

signaling.start();
