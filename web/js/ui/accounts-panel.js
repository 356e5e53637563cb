// accounts-panel: the list of SIP accounts with their registration state and buttons.
//
// Rows are kept per account and updated in place (not rebuilt), so a button keeps keyboard
// focus while the state it controls changes under it.

import { STATE_WORDS, detailWords } from './registration-text.js';
import { announce } from './announce.js';
import { byId, el, show } from './dom.js';

export function mountAccountsPanel(accounts, signaling) {
  const list = byId('account-list');
  const empty = byId('accounts-empty');
  const stale = byId('accounts-stale');
  const rows = new Map(); // key -> row

  function render() {
    const current = accounts.list();
    const keys = new Set(current.map((a) => a.key));
    for (const [key, row] of rows) {
      if (!keys.has(key)) {
        row.li.remove();
        rows.delete(key);
      }
    }
    for (const account of current) {
      let row = rows.get(account.key);
      if (!row) {
        row = makeRow(account, accounts);
        rows.set(account.key, row);
      }
      list.append(row.li); // keeps the order of accounts.list()
      row.update(account, signaling.connected);
    }
    show(empty, current.length === 0);
    show(list, current.length > 0);
  }

  accounts.addEventListener('change', (ev) => {
    const account = ev.detail.account;
    if (account && rows.has(account.key)) {
      const row = rows.get(account.key);
      const before = row.state;
      row.update(account, signaling.connected);
      if (before !== account.registration.state) {
        announce(`${row.title}: ${STATE_WORDS[account.registration.state]}`);
      }
    } else {
      render();
    }
  });

  // While the socket is down the states shown are the last known ones and the buttons
  // could not reach the server: say so and disable them.
  signaling.addEventListener('state', () => {
    show(stale, !signaling.connected && rows.size > 0);
    for (const [key, row] of rows) row.update(accounts.get(key) || row.account, signaling.connected);
  });

  render();
}

function makeRow(account, accounts) {
  const titleId = `acct-${cssSafe(account.key)}`;
  const title = el('h3', { class: 'account-name', id: titleId });
  const uri = el('p', { class: 'account-uri' });
  const badge = el('span', { class: 'badge' });
  const detail = el('p', { class: 'account-detail' });
  const note = el('p', { class: 'account-note' });
  const kind = account.kind === 'byo' ? el('span', { class: 'tag' }, 'Your account') : null;
  // Configured accounts stay registered on the server (shared with everyone who may use them):
  // no Unregister, just a word saying so, and Register only to retry a failure now.
  const kept = account.kind === 'configured' ? el('p', { class: 'account-kept' }, 'Kept registered by the server.') : null;
  const registerBtn = el('button', { type: 'button', class: 'btn btn-primary' }, 'Register');
  const unregisterBtn = el('button', { type: 'button', class: 'btn' }, 'Unregister');
  const forgetBtn = account.kind === 'byo' ? el('button', { type: 'button', class: 'btn btn-quiet' }, 'Forget') : null;

  const actions = el('div', { class: 'account-actions' }, registerBtn, unregisterBtn, forgetBtn);
  const row = {
    account,
    state: null,
    title: '',
    li: el('li', { class: 'account', 'aria-labelledby': titleId },
      el('div', { class: 'account-head' }, title, badge),
      uri,
      kind ? el('div', { class: 'account-tags' }, kind) : null,
      detail,
      note,
      kept,
      actions),
    update(next, connected) {
      row.account = next;
      const state = next.registration.state;
      row.state = state;
      // A BYO account is named by its address; the "sip:" adds nothing a person needs to read.
      row.title = next.displayName || next.name || next.uri.replace(/^sips?:/, '');
      title.textContent = row.title;
      uri.textContent = next.kind === 'configured' ? next.uri : '';
      show(uri, uri.textContent !== '');
      badge.textContent = STATE_WORDS[state];
      badge.dataset.state = state;
      detail.textContent = detailWords(next);
      show(detail, detail.textContent !== '');
      detail.classList.toggle('is-error', state === 'failed' || Boolean(next.lastFailure));
      note.textContent = next.note || '';
      show(note, note.textContent !== '');
      registerBtn.disabled = !connected || state === 'registered' || state === 'registering';
      unregisterBtn.disabled = !connected || state === 'unregistered';
      registerBtn.setAttribute('aria-label', `Register ${row.title}`);
      unregisterBtn.setAttribute('aria-label', `Unregister ${row.title}`);
      if (next.kind === 'configured') {
        const failed = state === 'failed';
        registerBtn.textContent = failed ? 'Retry now' : 'Register';
        registerBtn.setAttribute('aria-label', failed ? `Retry registering ${row.title} now` : `Register ${row.title}`);
        // Nothing to press while it is registered (or registering), nor for a calls-only trunk.
        const showRegister = next.registers !== false && (state === 'failed' || state === 'unregistered' || state === 'registering');
        // The button the keyboard was on goes away once registered: keep focus in the row.
        if (!showRegister && document.activeElement === registerBtn) {
          row.li.tabIndex = -1;
          row.li.focus();
        }
        show(registerBtn, showRegister);
        show(unregisterBtn, false);
        show(actions, showRegister);
        show(kept, next.registers !== false);
      }
      if (forgetBtn) {
        forgetBtn.textContent = next.remembered ? 'Forget on this device' : 'Remove';
        forgetBtn.setAttribute('aria-label', `${forgetBtn.textContent}: ${row.title}`);
      }
    },
  };
  registerBtn.addEventListener('click', () => accounts.register(row.account));
  unregisterBtn.addEventListener('click', () => accounts.unregister(row.account));
  if (forgetBtn) forgetBtn.addEventListener('click', () => accounts.forgetByo(row.account));
  return row;
}

function cssSafe(text) {
  return text.replace(/[^a-zA-Z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}
