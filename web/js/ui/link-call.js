// link-call: a call asked for by a link (`/?call=sip:bob@example.com`, which is what the
// registered sip:/tel: handler opens). Once the phone is ready it shows who would be called,
// with "Call" focused: one click (or Enter) dials, Dismiss drops it. It never dials by itself,
// so a web page cannot make this tab call someone (a premium number, say) just by linking here.

import { byId, show } from './dom.js';
import { shortUri } from '../dial-target.js';
import { linkedCall, forgetLinkedCall } from '../links.js';

export function mountLinkCall(dialer, book, session, calls) {
  const box = byId('link-call');
  const peer = byId('link-call-peer');
  const uri = byId('link-call-uri');
  const error = byId('link-call-error');
  const go = byId('link-call-go');
  const pending = linkedCall();
  if (!pending) return;
  forgetLinkedCall();

  function open() {
    show(box, true);
    if (pending.error) {
      peer.textContent = '';
      uri.textContent = '';
      error.textContent = pending.error;
      show(error, true);
      go.hidden = true;
    } else {
      const name = book.nameFor(pending.target.to);
      peer.textContent = name || pending.target.label;
      uri.textContent = name ? shortUri(pending.target.to) : '';
      show(uri, uri.textContent !== '');
      dialer.prefill(pending.raw);
      go.setAttribute('aria-label', `Call ${peer.textContent}`);
    }
    (pending.error ? byId('link-call-dismiss') : go).focus();
  }

  function close() {
    show(box, false);
  }

  go.addEventListener('click', () => {
    if (dialer.call(pending.target.to)) close();
  });
  byId('link-call-dismiss').addEventListener('click', () => {
    close();
    byId('dial-input').focus();
  });
  calls.addEventListener('change', () => {
    if (calls.active) close();
  });

  // Shown once the phone is usable (after the login, if the server wants one).
  if (session.phase === 'ready') open();
  else {
    const onPhase = (ev) => {
      if (ev.detail.phase !== 'ready') return;
      session.removeEventListener('phase', onPhase);
      // After the phase handlers in main.js have put the phone on screen.
      setTimeout(open, 0);
    };
    session.addEventListener('phase', onPhase);
  }
}
