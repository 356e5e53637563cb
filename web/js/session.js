// session: who we are on the server, on top of a SignalingClient.
//
// Every new socket is a new server session, so after each (re)connect this module works out
// whether the server wants a login:
//  - a server in open mode sends "welcome" unprompted right after the socket opens;
//  - otherwise nothing arrives, or an "error" with code "not_logged_in": then we log in again
//    with the credentials this tab already used (kept in memory only, never stored), or ask
//    the user through the "login" phase.
//
// Phases (the "phase" event): connecting -> login -> authenticating -> ready.
// "welcome" events carry the server's welcome message each time a session starts.

import { SignalingError } from './signaling.js';

// How long to wait for an unprompted welcome before concluding the server wants a login. The
// open-mode welcome follows the socket's open immediately, so this only has to cover one
// round trip on a slow link.
const WELCOME_WAIT_MS = 1500;

export const Phase = Object.freeze({
  CONNECTING: 'connecting',
  LOGIN: 'login',
  AUTHENTICATING: 'authenticating',
  READY: 'ready',
});

// Why a login did not work, as a reason code the login form turns into words.
export class LoginError extends Error {
  constructor(reason, message) {
    super(message || reason);
    this.name = 'LoginError';
    this.reason = reason; // 'wrong_credentials' | 'unreachable' | 'timeout' | 'other'
  }
}

export class Session extends EventTarget {
  constructor(signaling) {
    super();
    this.signaling = signaling;
    this.phase = Phase.CONNECTING;
    this.welcome = null;
    this.credentials = null; // {user, password} or {user, token}: only after a login worked
    this.loginRequired = false; // learned from this server during this tab's life
    this.welcomeTimer = null;
    this.lastError = null;

    signaling.addEventListener('open', () => this.onOpen());
    signaling.addEventListener('close', () => this.onClose());
    signaling.addEventListener('msg:welcome', (ev) => this.onWelcome(ev.detail));
    signaling.addEventListener('msg:error', (ev) => this.onError(ev.detail));
  }

  setPhase(phase, error = null) {
    this.phase = phase;
    this.lastError = error;
    this.dispatchEvent(new CustomEvent('phase', { detail: { phase, error } }));
  }

  onOpen() {
    this.welcome = null;
    if (this.loginRequired && this.credentials) {
      this.autoLogin();
      return;
    }
    if (this.loginRequired) {
      // Known to need a login and nobody has given one yet: keep (or put up) the form.
      if (this.phase !== Phase.LOGIN) this.setPhase(Phase.LOGIN);
      return;
    }
    this.setPhase(Phase.CONNECTING);
    this.welcomeTimer = setTimeout(() => {
      this.welcomeTimer = null;
      if (this.phase !== Phase.CONNECTING) return;
      this.loginRequired = true;
      if (this.credentials) this.autoLogin();
      else this.setPhase(Phase.LOGIN);
    }, WELCOME_WAIT_MS);
  }

  onClose() {
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    // The login form stays up across reconnects (the user may be typing, or has just been told
    // the server is unreachable); everything else waits for the next socket.
    if (this.loginRequired && !this.credentials) {
      if (this.phase !== Phase.LOGIN) this.setPhase(Phase.LOGIN, this.lastError);
    } else {
      this.setPhase(Phase.CONNECTING);
    }
  }

  onWelcome(msg) {
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    if (msg.open_mode) this.loginRequired = false;
    // A token, if the server hands one out, is better to keep than the password.
    if (this.credentials && typeof msg.token === 'string') {
      this.credentials = { user: this.credentials.user, token: msg.token };
    }
    this.welcome = msg;
    this.setPhase(Phase.READY);
    this.dispatchEvent(new CustomEvent('welcome', { detail: msg }));
  }

  onError(msg) {
    // An unsolicited not_logged_in means the server wants a login before anything else.
    if (msg.code !== 'not_logged_in' || this.phase === Phase.AUTHENTICATING) return;
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    this.loginRequired = true;
    if (this.credentials && this.phase === Phase.CONNECTING) this.autoLogin();
    else if (this.phase !== Phase.LOGIN) this.setPhase(Phase.LOGIN);
  }

  async autoLogin() {
    try {
      await this.sendLogin(this.credentials);
    } catch (err) {
      if (err.reason === 'wrong_credentials') {
        // The stored password stopped working (changed on the server): ask again.
        this.credentials = null;
        this.setPhase(Phase.LOGIN, err);
      } else if (err.reason !== 'unreachable') {
        this.setPhase(Phase.LOGIN, err);
      }
      // 'unreachable': the socket went away; the next open tries again.
    }
  }

  // Called by the login form. Resolves when the server welcomed us; rejects with LoginError.
  async login(user, password) {
    await this.sendLogin({ user, password });
    this.credentials = this.credentials && this.credentials.token ? this.credentials : { user, password };
  }

  async sendLogin(credentials) {
    this.setPhase(Phase.AUTHENTICATING);
    try {
      const reply = await this.signaling.request('login', credentials);
      // The welcome reply also arrives as a broadcast message, which onWelcome handles; this
      // covers a server that answers differently and sends welcome after.
      if (reply.type === 'welcome' && this.phase !== Phase.READY) this.onWelcome(reply);
      if (reply.type === 'welcome' && typeof reply.token === 'string') {
        this.credentials = { user: credentials.user, token: reply.token };
      }
    } catch (err) {
      const loginErr = toLoginError(err);
      if (loginErr.reason === 'already_logged_in') return; // the welcome is on its way
      if (this.phase === Phase.AUTHENTICATING || this.phase === Phase.LOGIN) this.setPhase(Phase.LOGIN, loginErr);
      throw loginErr;
    }
  }
}

function toLoginError(err) {
  if (!(err instanceof SignalingError)) return new LoginError('other', String(err && err.message));
  switch (err.code) {
    case 'login_failed':
      return new LoginError('wrong_credentials', err.message);
    case 'not_connected':
    case 'disconnected':
      return new LoginError('unreachable', err.message);
    case 'timeout':
      return new LoginError('timeout', err.message);
    case 'already_logged_in':
      return new LoginError('already_logged_in', err.message);
    default:
      return new LoginError('other', err.message);
  }
}
