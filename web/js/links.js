// links: tabphone as the handler of sip: and tel: links, and the `/?call=<uri>` entry point
// those links open.
//
// registerProtocolHandler needs a secure context (https, or http://localhost) and, in most
// browsers, a click: the Settings button calls registerHandlers() from its click handler. The
// browser then asks the user to confirm; the page cannot tell whether they did (Chromium and
// Firefox give no answer back), so the words after the click say "if you allowed it".
//
// A link never dials on its own: a web page could otherwise make this tab call a premium
// number just by linking to it. The call is shown, ready, with one "Call" button to confirm
// (ui/link-call.js).

import { parseTarget } from './dial-target.js';

export const HANDLER_URL = '/?call=%s';

export function protocolHandlerSupport() {
  if (typeof navigator.registerProtocolHandler !== 'function') {
    return { ok: false, why: 'This browser cannot open sip: and tel: links in a web page (it has no registerProtocolHandler).' };
  }
  if (!window.isSecureContext) {
    return { ok: false, why: 'Browsers only allow this on a secure page: open tabphone over https.' };
  }
  return { ok: true, why: '' };
}

// Returns the schemes registered (as far as the browser let us ask), or throws in words.
export function registerHandlers() {
  const support = protocolHandlerSupport();
  if (!support.ok) throw new Error(support.why);
  const url = new URL(HANDLER_URL.replace('%s', ''), window.location.href).href + '%s';
  const done = [];
  const problems = [];
  for (const scheme of ['sip', 'tel']) {
    try {
      navigator.registerProtocolHandler(scheme, url);
      done.push(scheme);
    } catch (err) {
      problems.push(`${scheme}: ${err.message}`);
    }
  }
  if (done.length === 0) throw new Error(`The browser refused: ${problems.join('; ')}`);
  return done;
}

// The call a `?call=` parameter asks for: {target, raw} | {error, raw} | null when there is
// none. URLSearchParams has already undone the percent-encoding once; a handler URL that was
// encoded twice ("sip%253A...") is decoded once more.
export function linkedCall(loc = window.location) {
  const params = new URLSearchParams(loc.search);
  if (!params.has('call')) return null;
  let raw = params.get('call') || '';
  if (/%[0-9a-f]{2}/i.test(raw)) {
    try {
      raw = decodeURIComponent(raw);
    } catch { /* keep it as it is */ }
  }
  raw = raw.trim();
  // "sip://bob@example.com" (a scheme written like a web address) means sip:bob@example.com.
  raw = raw.replace(/^(sips?|tel):\/\//i, '$1:');
  const target = parseTarget(raw);
  return target && target.to !== 'echo' ? { target, raw } : { error: `“${raw.slice(0, 80)}” in the link is not a number or SIP address that can be called.`, raw };
}

// Removes ?call= from the address bar, so a reload does not offer the call again.
export function forgetLinkedCall() {
  const url = new URL(window.location.href);
  url.searchParams.delete('call');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}
