// registration-text: a registration state, and why it failed, in plain words.
// Pure functions (no DOM) so the wording can be checked on its own.

export const STATE_WORDS = {
  registering: 'Registering…',
  registered: 'Registered',
  failed: 'Failed',
  unregistered: 'Not registered',
  not_registering: 'Calls only',
};

// What a SIP status code means for someone trying to register, and what to do about it.
const CODE_WORDS = [
  [[401, 407], 'The provider rejected the username or password.'],
  [[403], 'The provider refused this account. Check the username and password.'],
  [[404], 'The provider does not know this SIP address. Check the address.'],
  [[408], 'The provider did not answer in time.'],
  [[423], 'The provider wants a longer registration interval.'],
  [[480, 500, 502, 503, 504], 'The provider is unavailable right now.'],
];

export function failureWords(code, reason) {
  for (const [codes, words] of CODE_WORDS) {
    if (codes.includes(code)) return `${words} (${code}${reason ? ` ${reason}` : ''})`;
  }
  if (code >= 400) return `The provider answered ${code}${reason ? ` ${reason}` : ''}.`;
  // Code 0: a local cause (no DNS answer, no route, refused by this server); the server's
  // reason is already a sentence.
  return reason ? sentence(reason) : 'The registration failed for an unknown reason.';
}

function sentence(text) {
  const t = text.trim();
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}

function duration(seconds) {
  if (seconds >= 5400) return `${Math.round(seconds / 3600)} h`;
  if (seconds >= 90) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

function clock(ms) {
  // Seconds matter only when the next try is close.
  const near = ms - Date.now() < 120_000;
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(near && { second: '2-digit' }) });
}

// The line under an account's name: what is going on right now, or why it last failed.
export function detailWords(account) {
  const reg = account.registration;
  const failure = account.lastFailure;
  switch (reg.state) {
    case 'registered':
      return reg.expires ? `Renews every ${duration(reg.expires)}.` : '';
    case 'not_registering':
      return 'This account does not register: it places calls but does not receive them here.';
    case 'registering':
      return failure ? `Last attempt: ${failureWords(failure.code, failure.reason)} Trying again…` : '';
    case 'failed': {
      const retry = reg.retryAt ? ` Next try at ${clock(reg.retryAt)}.` : '';
      return failureWords(reg.code, reg.reason) + retry;
    }
    default:
      return '';
  }
}
