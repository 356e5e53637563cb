// session: who we are on the server, on top of a SignalingClient.
//
// Every new socket is a new server session, so after each (re)connect this module works out
// whether the server wants a login:
//  - a server in open mode sends "welcome" unprompted right after the socket opens;
//  - otherwise nothing arrives, or an "error" with code "not_logged_in": then we log in again
//    with the credentials this tab already used (kept in memory only, never stored), or ask
//    the user through the "login" phase.
//
// Resume (docs/protocol.md "Reconnecting"): each welcome may carry a resume_token. When the
// socket drops, the server keeps this tab's calls and own registrations for
// reconnect_grace_seconds; the next socket sends `login` {user, resume: token} first and, when
// the server takes it, gets the same session back (welcome with resumed: true and the live
// call ids) while the page's RTCPeerConnections carry on. The token is kept in memory only, never
// in sessionStorage: a reloaded page has lost its RTCPeerConnections, so it has no media to
// resume, and a token at rest is one more secret to leak. A refused or expired token
// ("resumefailed" event) falls back to the ordinary login.
//
// Phases (the "phase" event): connecting -> login -> authenticating -> ready.
// "welcome" events carry the server's welcome message each time a session starts or resumes
// (msg.resumed === true for a resume).

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
    this.resume = null; // {user, token, graceMs, until}: from the last welcome, memory only
    this.resuming = false; // a resume login is in flight on this socket
    this.freshWelcome = null; // open mode: the unprompted welcome that came during a resume

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

  // Can a lost connection still be resumed (the server holds our calls)?
  canResume() {
    return Boolean(this.resume && (!this.resume.until || Date.now() < this.resume.until));
  }

  onOpen() {
    this.welcome = null;
    this.freshWelcome = null;
    if (this.resume) {
      if (this.canResume()) {
        this.tryResume();
        return;
      }
      this.resume = null;
      this.dispatchEvent(new CustomEvent('resumefailed', { detail: { reason: 'expired' } }));
    }
    this.startSession();
  }

  // A fresh server session: open mode's welcome, or a login.
  startSession() {
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

  async tryResume() {
    const { user, token } = this.resume;
    this.resuming = true;
    this.setPhase(Phase.AUTHENTICATING);
    try {
      await this.signaling.request('login', { user, resume: token });
      // onWelcome (the broadcast of the same reply) has already taken it.
    } catch (err) {
      this.resuming = false;
      if (err instanceof SignalingError && (err.code === 'disconnected' || err.code === 'not_connected')) {
        return; // the new socket died too: the next open tries again while the grace lasts
      }
      // Unknown or expired token (the grace period is over, or the server restarted): the calls
      // are gone; start afresh.
      this.resume = null;
      this.dispatchEvent(new CustomEvent('resumefailed', { detail: { reason: err.code || 'failed' } }));
      const fresh = this.freshWelcome;
      this.freshWelcome = null;
      if (fresh) this.onWelcome(fresh);
      else this.startSession();
    }
  }

  onClose() {
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    this.resuming = false;
    // The grace period runs from the moment the server lost us, which is about now.
    if (this.resume && !this.resume.until) this.resume.until = Date.now() + this.resume.graceMs;
    // The login form stays up across reconnects (the user may be typing, or has just been told
    // the server is unreachable); everything else waits for the next socket.
    if (this.loginRequired && !this.credentials) {
      if (this.phase !== Phase.LOGIN) this.setPhase(Phase.LOGIN, this.lastError);
    } else {
      this.setPhase(Phase.CONNECTING);
    }
  }

  onWelcome(msg) {
    if (this.resuming && msg.resumed !== true) {
      // Open mode greets every socket at once; that fresh session only counts if the resume
      // fails.
      this.freshWelcome = msg;
      return;
    }
    this.resuming = false;
    this.resume = typeof msg.resume_token === 'string' && msg.resume_token
      ? { user: msg.user, token: msg.resume_token, graceMs: 1000 * (Number(msg.reconnect_grace_seconds) || 0), until: 0 }
      : null;
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
    if (msg.code !== 'not_logged_in' || this.phase === Phase.AUTHENTICATING || this.resuming) return;
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
