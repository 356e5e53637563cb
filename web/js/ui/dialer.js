// dialer: the idle phone: dial field, "Call from" picker, and the Test call button.
//
// The picker lists "Automatic" (the server picks), every configured account, and the
// bring-your-own accounts that are registered right now: a BYO account exists on the server
// only while registered. What goes into `from_account`: a configured account's name, a BYO
// account's URI, nothing for Automatic.

import { parseTarget, ECHO_TARGET } from '../dial-target.js';
import { byId, el, show } from './dom.js';

const FIRST_RUN_KEY = 'tabphone.testcall.done';
const AUTOMATIC = '';

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

// contacts: the address book, to show the contact's name for a dialled number or address.
export function mountDialer(calls, accounts, signaling, contacts) {
  const form = byId('dial-form');
  const input = byId('dial-input');
  const from = byId('dial-from');
  const submit = byId('dial-submit');
  const error = byId('dial-error');
  const testCall = byId('test-call');
  const firstRun = byId('first-run');
  let chosen = AUTOMATIC; // survives re-renders of the picker

  function showError(text) {
    error.textContent = text;
    show(error, text !== '');
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function renderAccounts() {
    const options = [el('option', { value: AUTOMATIC }, 'Automatic (server chooses)')];
    for (const account of accounts.list()) {
      const state = account.registration.state;
      if (account.kind === 'byo') {
        if (state !== 'registered') continue;
        options.push(el('option', { value: account.uri }, `${account.uri.replace(/^sips?:/, '')} (your account)`));
      } else {
        const name = account.displayName || account.name;
        // Trunks that do not register can still call; only a failure is worth a warning.
        const note = state === 'failed' ? ' — registration failed' : '';
        options.push(el('option', { value: account.name }, `${name}${note}`));
      }
    }
    from.replaceChildren(...options);
    from.value = options.some((o) => o.value === chosen) ? chosen : AUTOMATIC;
  }

  function renderButtons() {
    const busy = Boolean(calls.active);
    const offline = !signaling.connected;
    submit.disabled = busy || offline;
    testCall.disabled = busy || offline;
    input.disabled = busy;
  }

  function firstRunDone() {
    const s = storage();
    return Boolean(s && s.getItem(FIRST_RUN_KEY));
  }

  async function place(target, fromAccount) {
    showError('');
    const name = target.to === ECHO_TARGET ? '' : contacts.nameFor(target.to);
    if (name) target = { ...target, label: name };
    try {
      await calls.dial(target, fromAccount);
    } catch (err) {
      showError(err.message);
    }
  }

  from.addEventListener('change', () => {
    chosen = from.value;
  });

  // A submit covers the button and the Enter key.
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const target = parseTarget(input.value);
    if (!target) {
      showError(input.value.trim() === ''
        ? 'Enter a number or a SIP address to call.'
        : 'That is not a number or SIP address. Try +14155550100, sip:alice@example.com or alice@example.com.');
      input.focus();
      return;
    }
    place(target, from.value);
  });

  input.addEventListener('input', () => {
    if (!error.hidden) showError('');
  });

  // The echo line belongs to the server, not to any account: never send from_account.
  testCall.addEventListener('click', () => place({ to: ECHO_TARGET, label: 'Test call' }, AUTOMATIC));

  calls.addEventListener('change', (ev) => {
    const { call } = ev.detail;
    renderButtons();
    if (call.isEcho && call.state === 'connected') {
      const s = storage();
      if (s) {
        try {
          s.setItem(FIRST_RUN_KEY, '1');
        } catch { /* storage full or off: the hint just stays */ }
      }
    }
    show(firstRun, !firstRunDone());
  });
  accounts.addEventListener('change', renderAccounts);
  signaling.addEventListener('state', renderButtons);

  renderAccounts();
  renderButtons();
  show(firstRun, !firstRunDone());

  return {
    focus() {
      input.focus();
    },
    // Calls `text` (a number or address from the contacts, the history or a link) from the
    // account chosen in "Call from". Shows it in the dial field, so redial and errors make sense.
    // Returns false (with the reason under the field) when it cannot be called.
    call(text) {
      input.value = text;
      const target = parseTarget(text);
      if (!target) {
        showError(`“${text}” is not a number or SIP address that can be called.`);
        return false;
      }
      if (calls.active) {
        showError('Hang up the current call first.');
        return false;
      }
      place(target, from.value);
      return true;
    },
    // Puts `text` in the field without calling (a link waiting for its confirmation).
    prefill(text) {
      input.value = text;
      showError('');
    },
  };
}
