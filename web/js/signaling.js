// signaling: the WebSocket link to the tabphone server (/ws, JSON text frames).
//
// Owns one socket at a time and hides its churn from the rest of the page:
//  - request(type, fields) numbers the message ("id") and returns a promise settled by the
//    server's reply echoing that id (an "error" reply rejects with a SignalingError);
//  - every other incoming message is dispatched as a "message" event (and as "msg:<type>");
//  - a lost socket is reopened with exponential backoff (1 s, 2 s, 4 s ... capped at 30 s) and
//    the countdown is published through "state" events so the page can say
//    "reconnecting in N s";
//  - a ping goes out every 25 s, because the server closes sessions it has not heard from, and
//    a ping left unanswered means the path is dead even if the socket still looks open.
//
// The module knows nothing about login or accounts: session.js builds on top of it (and, after a
// reconnect, resumes the server session so that calls survive the drop). The page never closes
// the socket with 1000/1001 itself: to the server those mean "the tab left", which ends its
// calls at once; a dead path is closed with 4000 and keeps them for the resume.

const PING_INTERVAL_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_S = 1;
const BACKOFF_MAX_S = 30;
// A connection that stayed up this long counts as healthy: the next failure starts the backoff
// from 1 s again. Resetting on mere "open" would let a server that accepts and instantly
// closes pin us at a 1 s reconnect loop.
const HEALTHY_AFTER_MS = 5_000;

export class SignalingError extends Error {
  constructor(code, message, reply = null) {
    super(message || code);
    this.name = 'SignalingError';
    this.code = code;
    this.reply = reply;
  }
}

// Connection states, in the words the status bar uses.
export const State = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

export function defaultSocketUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

export class SignalingClient extends EventTarget {
  constructor(url = defaultSocketUrl()) {
    super();
    this.url = url;
    this.ws = null;
    this.state = State.CONNECTING;
    this.retryInSeconds = 0;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0; // failed attempts since the last healthy connection
    this.openedAt = 0;
    this.retryTimer = null;
    this.countdownTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.started = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => {
      if (this.state !== State.CONNECTED) this.setState(this.state);
    };
  }

  start() {
    if (this.started) return;
    this.started = true;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.open();
  }

  get connected() {
    return this.state === State.CONNECTED;
  }

  // Sends a message without waiting for a reply. Returns false when no socket is open, so a
  // caller can tell the user instead of losing the message silently.
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Sends {type, id, ...fields}; resolves with the reply that echoes id, rejects with a
  // SignalingError: the server's error code, or 'not_connected' / 'timeout' / 'disconnected'.
  request(type, fields = {}, { timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...fields, type, id })) {
        reject(new SignalingError('not_connected', 'not connected to the server'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalingError('timeout', `no answer to "${type}"`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  // Skips the remaining backoff wait (the "Retry now" button, the browser coming online).
  reconnectNow() {
    if (!this.started || this.state === State.CONNECTED || this.state === State.CONNECTING) return;
    this.clearRetry();
    this.open();
  }

  open() {
    this.setState(State.CONNECTING);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      // Only a malformed URL throws here; treat it like any failed attempt.
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.ws) return;
      this.openedAt = Date.now();
      this.setState(State.CONNECTED);
      this.startKeepalive();
      this.dispatchEvent(new Event('open'));
    });
    ws.addEventListener('message', (ev) => {
      if (ws === this.ws) this.handleFrame(ev.data);
    });
    // "error" is always followed by "close"; all recovery happens there.
    ws.addEventListener('close', (ev) => {
      if (ws === this.ws) this.handleClose(ev);
    });
  }

  handleFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('signaling: ignoring a frame that is not JSON');
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;

    if (msg.type === 'pong') this.clearPongTimer();
    if (msg.type === 'ping') this.send({ type: 'pong', ...(msg.id !== undefined && { id: msg.id }) });

    const waiter = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
    if (waiter) {
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.type === 'error') waiter.reject(new SignalingError(msg.code, msg.message, msg));
      else waiter.resolve(msg);
    }
    // Replies are still broadcast: a "registration" answering a "register" is also news for
    // whoever draws the accounts list.
    this.dispatchEvent(new CustomEvent('message', { detail: msg }));
    this.dispatchEvent(new CustomEvent(`msg:${msg.type}`, { detail: msg }));
  }

  handleClose(ev) {
    const wasOpen = this.state === State.CONNECTED;
    this.ws = null;
    this.stopKeepalive();
    for (const [, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new SignalingError('disconnected', 'the connection to the server was lost'));
    }
    this.pending.clear();
    if (wasOpen && Date.now() - this.openedAt >= HEALTHY_AFTER_MS) this.attempt = 0;
    this.dispatchEvent(new CustomEvent('close', { detail: { code: ev.code, reason: ev.reason, wasOpen } }));
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const delay = Math.min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** this.attempt);
    this.attempt++;
    this.retryInSeconds = delay;
    this.setState(State.RECONNECTING);
    // One timer re-publishes the countdown each second; a separate one does the reconnect so
    // the wait is exact even if the countdown ticks drift.
    this.countdownTimer = setInterval(() => {
      // Stops at 1: the reconnect itself replaces "1 s", never a "0 s".
      if (this.retryInSeconds <= 1) return;
      this.retryInSeconds--;
      this.setState(State.RECONNECTING);
    }, 1000);
    this.retryTimer = setTimeout(() => {
      this.clearRetry();
      this.open();
    }, delay * 1000);
  }

  clearRetry() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = null;
    this.countdownTimer = null;
  }

  startKeepalive() {
    this.stopKeepalive();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' })) return;
      if (this.pongTimer) return;
      this.pongTimer = setTimeout(() => {
        // No pong: the path is dead even if TCP has not noticed yet. Closing makes "close"
        // fire, which reconnects.
        this.pongTimer = null;
        if (this.ws) this.ws.close(4000, 'keepalive timeout');
      }, PONG_TIMEOUT_MS);
    }, PING_INTERVAL_MS);
  }

  clearPongTimer() {
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  stopKeepalive() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.clearPongTimer();
  }

  // While waiting to reconnect, a browser that says it has no network is shown as "offline";
  // we keep retrying anyway because navigator.onLine is only a hint (it can read false on a
  // machine that reaches the server over loopback).
  setState(state) {
    let shown = state;
    if (state === State.RECONNECTING && navigator.onLine === false) shown = State.OFFLINE;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state: shown, retryInSeconds: this.retryInSeconds } }));
  }
}
