// call-text: call states, end reasons and errors in plain words. Pure functions (no DOM).

export const STATE_WORDS = {
  preparing: 'Calling…',
  calling: 'Calling…',
  ringing: 'Ringing…',
  early: 'Early media',
  incoming: 'Incoming call',
  accepting: 'Connecting…',
  connected: 'Connected',
  ended: 'Call ended',
};

// The state line of a connected call: hold and transfer come before "Connected".
export function holdWords(call) {
  if (call.transfer) return 'Transferring…';
  if (call.holdPending === 'hold') return 'Putting on hold…';
  if (call.holdPending === 'resume') return 'Resuming…';
  if (call.localHold) return 'On hold';
  if (call.remoteHold) return 'Held by the other side';
  return STATE_WORDS[call.state] || '';
}

// data-state for the CSS colour of that line.
export function holdState(call) {
  if (call.transfer) return 'transferring';
  if (call.localHold) return 'held';
  if (call.remoteHold) return 'remote_held';
  return call.state;
}

// Reason phrases SIP stacks put on the wire by default: these say nothing a person can use,
// so the words below replace them. Anything else the server sends with a status (e.g. 488
// "no common codec (browser: opus, far end: G729)") was written for people and is shown as is.
const STOCK_PHRASES = new Set([
  'ok', 'busy here', 'busy everywhere', 'temporarily unavailable', 'request timeout', 'not found',
  'not acceptable here', 'not acceptable', 'decline', 'declined', 'request terminated', 'forbidden',
  'unauthorized', 'proxy authentication required', 'service unavailable', 'server internal error',
  'server time-out', 'bad gateway', 'does not exist anywhere', 'address incomplete', 'gone',
  'moved temporarily', 'too many hops', 'loop detected', 'bad request', 'not implemented',
  'call/transaction does not exist', 'unsupported media type', 'bye', 'normal clearing',
]);

const CODE_WORDS = [
  [[486, 600], 'The line is busy.'],
  [[480, 408], 'No answer.'],
  [[404, 604, 410], 'That number or address was not found.'],
  [[484], 'The number is incomplete.'],
  [[488, 606, 415], 'The other side cannot handle the audio formats offered (no common codec).'],
  [[603], 'The call was declined.'],
  [[487], 'The call was cancelled.'],
  [[401, 407], 'The provider asked for a password this account could not give.'],
  [[403], 'The provider refused the call.'],
  [[500, 502, 503, 504], 'The provider is unavailable right now.'],
];

// Local causes (code 0) the server reports in snake_case.
const LOCAL_CAUSES = {
  rtp_timeout: 'The audio stopped arriving, so the call was ended (network lost).',
  session_timer: 'The call was lost (the other side stopped confirming it).',
  shutdown: 'The server is restarting, so the call was ended.',
  answered_elsewhere: 'Answered on another device.',
  dtls_fingerprint_mismatch: 'The secure audio connection could not be verified, so the call was ended.',
  dtls_failed: 'The secure audio connection could not be set up.',
  ice_failed: 'No network path for the audio could be found.',
  cancelled: 'The caller hung up.',
  transferred: 'The call was transferred.',
  srtp_required: 'The phone network side would not encrypt the call (this account requires SRTP), so it was not connected.',
};

function isStock(reason) {
  return STOCK_PHRASES.has(String(reason).trim().toLowerCase());
}

function sentence(text) {
  let t = String(text).trim();
  if (t === '') return '';
  t = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(t) ? t : `${t}.`;
}

// Why the far end (or the server) ended a call, for the line under the dialer.
// direction: 'out' or 'in'; wasAnswered: whether it had been connected.
export function hangupWords(code, reason, { direction = 'out', wasAnswered = false } = {}) {
  const r = typeof reason === 'string' ? reason.trim() : '';
  if (Object.hasOwn(LOCAL_CAUSES, r)) return LOCAL_CAUSES[r];
  if (wasAnswered && (code === 200 || code === 0) && (r === '' || isStock(r))) return 'The other side hung up.';
  if (direction === 'in' && !wasAnswered && (code === 487 || code === 0 || code === 200) && (r === '' || isStock(r))) {
    return 'The caller hung up.';
  }
  if (r && !isStock(r) && !/^[a-z0-9_]+$/.test(r)) return r; // already written for people: show it as is
  for (const [codes, words] of CODE_WORDS) {
    if (codes.includes(code)) return `${words} (${code}${r ? ` ${r}` : ''})`;
  }
  if (code >= 300) return `The call ended: ${code}${r ? ` ${r}` : ''}.`;
  return r ? sentence(r.replace(/_/g, ' ')) : 'The call ended.';
}

const ERROR_WORDS = {
  not_implemented: 'This server cannot make calls yet.',
  not_allowed: 'You are not allowed to make this call.',
  unknown_account: 'The server does not know the account chosen to call from.',
  too_many: 'Too many calls are going on from this tab.',
  not_logged_in: 'You are signed out; sign in and try again.',
};

// An `error` answering a call message. The server's message is for people; the words above
// only stand in when it sent none.
export function callErrorWords(code, message) {
  const m = typeof message === 'string' ? message.trim() : '';
  if (m) return sentence(m);
  return ERROR_WORDS[code] || `The server refused the call (${code}).`;
}

// getUserMedia failures, with what to do about them.
export function microphoneErrorWords(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'The browser blocked the microphone. Allow microphone access for this site (the icon in the address bar), then try again.';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return 'No microphone was found. Connect one and try again.';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'The microphone could not be started: another program may be using it.';
    case 'OverconstrainedError':
      return 'The microphone does not support the settings asked for.';
    case 'SecurityError':
    case 'NoSecureContext':
      return 'The browser only allows the microphone on a secure (https) page.';
    case 'AbortError':
      return 'The microphone could not be started. Try again.';
    default:
      return `The microphone could not be used${err && err.message ? `: ${err.message}` : '.'}`;
  }
}

// `answered.codec`: a string ("opus/48000/2"; a transcoded call names the browser leg's codec,
// then the SIP leg's: "opus/48000/2 <-> PCMU/8000") or an object per leg
// ({browser: "opus", sip: "pcmu", transcoding: false}).
export function codecWords(codec) {
  if (typeof codec === 'string') {
    const legs = codec.split(' <-> ');
    return legs.length === 2 ? `${legs[0]} ↔ ${legs[1]} (transcoded)` : codec;
  }
  if (!codec || typeof codec !== 'object') return '';
  const { browser, sip, transcoding } = codec;
  if (browser && sip && browser !== sip) return `${browser} ↔ ${sip}${transcoding ? ' (transcoded)' : ''}`;
  return String(browser || sip || '');
}

// `answered.encryption`: {browser, sip}: one line per leg that the server named.
export function encryptionLines(encryption) {
  if (!encryption || typeof encryption !== 'object') return [];
  const lines = [];
  if (encryption.browser) lines.push(`Browser ↔ server: ${encryption.browser}`);
  if (encryption.sip) lines.push(`Server ↔ phone network: ${encryption.sip}`);
  return lines;
}

export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
