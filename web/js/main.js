// main: builds the page's objects and decides which view is on screen.
//
//   signaling (socket, reconnect, keepalive)
//     -> session (login / welcome per server session)
//       -> accounts (registration states, BYO accounts)
//       -> calls (outgoing/incoming calls, one RTCPeerConnection each)
//            -> history (the call log), quality (getStats() once a second)
//   contacts (address book), devices (microphone / speaker choice), links (?call=)
//   ui/* draw them; this file only wires them together and switches views.

import { SignalingClient } from './signaling.js';
import { Session, Phase } from './session.js';
import { AccountList } from './accounts.js';
import { CallManager } from './calls.js';
import { measureTone, getMicrophone, stopStream, setMicPreference } from './media.js';
import { ContactBook } from './contacts.js';
import { CallHistory } from './history.js';
import { DeviceChoice } from './devices.js';
import { QualityMonitor } from './quality.js';
import { byId, show } from './ui/dom.js';
import { mountStatusBar } from './ui/status-bar.js';
import { mountLoginForm } from './ui/login-form.js';
import { mountAccountsPanel } from './ui/accounts-panel.js';
import { mountByoForm } from './ui/byo-form.js';
import { mountDialer } from './ui/dialer.js';
import { mountCallPanel } from './ui/call-panel.js';
import { mountCallControls } from './ui/call-controls.js';
import { mountTabs } from './ui/tabs.js';
import { mountContactsPanel } from './ui/contacts-panel.js';
import { mountHistoryPanel } from './ui/history-panel.js';
import { mountSettingsPanel } from './ui/settings-panel.js';
import { mountQualityStrip } from './ui/quality-strip.js';
import { mountLinkCall } from './ui/link-call.js';

const signaling = new SignalingClient();
const session = new Session(signaling);
const accounts = new AccountList(signaling, session);
const contacts = new ContactBook();
const devices = new DeviceChoice();
setMicPreference(() => devices.micConstraint());
const calls = new CallManager(signaling, {
  iceServers: () => (session.welcome && Array.isArray(session.welcome.ice_servers) ? session.welcome.ice_servers : []),
  nameOf: (uri) => contacts.nameFor(uri),
  session, // calls survive a dropped connection by resuming the session
});
const callHistory = new CallHistory(calls);
const quality = new QualityMonitor(calls);

mountStatusBar(signaling);
const loginForm = mountLoginForm(session);
mountAccountsPanel(accounts, signaling);
mountByoForm(accounts);
const dialer = mountDialer(calls, accounts, signaling, contacts);
const callPanel = mountCallPanel(calls, accounts);
mountCallControls(calls);
mountQualityStrip(quality, calls);
// Accounts first: on a first visit the registration state is what matters; later the tab the
// user left open.
const tabs = mountTabs('side-tabs', 'accounts');
mountContactsPanel(contacts, dialer);
mountHistoryPanel(callHistory, contacts, dialer, tabs);
const remoteAudio = byId('remote-audio');
mountSettingsPanel(devices, { remoteAudio, tones: callPanel.tones, tabs });
devices.applySink(remoteAudio);
callPanel.tones.setSink(devices.speakerId);
mountLinkCall(dialer, contacts, session, calls);

const views = {
  connecting: byId('connecting-view'),
  login: byId('login-view'),
  phone: byId('phone-view'),
  accounts: byId('accounts-view'),
  side: byId('side'),
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
  show(views.phone, ready);
  show(views.accounts, ready);
  show(views.side, ready);
  show(views.byo, ready && accounts.byoAllowed);
  show(views.connecting, !login && !ready);
  if (login && !wasLogin) loginForm.focus();
  if (phase === Phase.READY && wasLogin) byId('dial-input').focus(); // focus was in the vanished form
});

session.addEventListener('welcome', (ev) => {
  everReady = true;
  const { user, open_mode: openMode } = ev.detail;
  whoami.textContent = user && !openMode ? `Signed in as ${user}` : '';
  show(whoami, whoami.textContent !== '');
  show(views.byo, accounts.byoAllowed);
});

// Exposed for tests and for debugging from the console; nothing in the page reads it.
//   calls.pc                   the current call's RTCPeerConnection (null when idle)
//   measureRemoteTone(ms)      {frequency, level} of the far end's audio (AnalyserNode)
//   measureLocalTone(ms)       the same for the microphone (the call's, or a fresh one)
//   tones.playing              'ring' / 'ringback' / null
window.tabphone = {
  signaling,
  session,
  accounts,
  calls,
  contacts,
  history: callHistory,
  devices,
  quality,
  tones: callPanel.tones,
  async measureRemoteTone(ms = 1000) {
    const call = calls.current;
    if (!call || !call.remoteStream) throw new Error('no call with remote audio');
    return measureTone(call.remoteStream, ms);
  },
  async measureLocalTone(ms = 1000) {
    const call = calls.active;
    if (call && call.localStream) return measureTone(call.localStream, ms);
    const stream = await getMicrophone();
    try {
      return await measureTone(stream, ms);
    } finally {
      stopStream(stream);
    }
  },
};

signaling.start();
