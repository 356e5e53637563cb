// accounts: the SIP accounts this tab can use and their registration state.
//
// Two kinds live side by side:
//  - "configured": set up by the server operator, named by `account`, listed in each welcome;
//  - "byo" (bring your own): entered by the user, named by their SIP URI.
// The server is the source of truth for registration state; this module mirrors its
// "registration" pushes, sends register/unregister, and re-registers remembered BYO accounts
// whenever a new server session starts (a reconnect is a new session, so registrations made
// through the old socket are gone).
//
// Emits "change" whenever the list or a state changes, and "needpassword" {account} when a
// BYO account whose password was not remembered has to be registered again.

import { SignalingError } from './signaling.js';
import * as byoStore from './byo-store.js';

const REGISTER_TIMEOUT_MS = 40_000; // a REGISTER may wait out SIP timer F (32 s) first

export class AccountList extends EventTarget {
  constructor(signaling, session) {
    super();
    this.signaling = signaling;
    this.session = session;
    this.accounts = new Map(); // key -> account (see makeAccount)
    this.byoAllowed = false;

    session.addEventListener('welcome', (ev) => this.onWelcome(ev.detail));
    signaling.addEventListener('msg:registration', (ev) => this.onRegistration(ev.detail));
  }

  list() {
    return [...this.accounts.values()];
  }

  changed(account = null) {
    this.dispatchEvent(new CustomEvent('change', { detail: { account } }));
  }

  onWelcome(welcome) {
    this.byoAllowed = welcome.byo_accounts === true;
    const next = new Map();
    for (const info of Array.isArray(welcome.accounts) ? welcome.accounts : []) {
      if (!info || typeof info.name !== 'string') continue;
      const account = makeAccount('configured', info.name, {
        name: info.name,
        uri: info.uri || '',
        displayName: info.display_name || '',
        // false for a trunk without registration and the built-in direct account: the server
        // answers `register` for those with not_allowed, so the panel offers no button.
        registers: info.registers !== false && info.direct !== true,
      });
      applyState(account, account.registers ? info.registration || { state: 'unregistered' } : { state: 'not_registering' });
      next.set(account.key, account);
    }
    if (this.byoAllowed) {
      // BYO accounts from this page's life (or remembered on this device) carry over; the new
      // session has no registration for them yet.
      for (const old of this.accounts.values()) {
        if (old.kind !== 'byo') continue;
        // A resumed session still holds its registrations (their state follows as events).
        if (welcome.resumed !== true) {
          old.registration = { state: 'unregistered' };
          if (!old.params.password) old.note = 'The connection to the server was renewed: enter the password again to register.';
        }
        next.set(old.key, old);
      }
      for (const saved of byoStore.loadRemembered()) {
        if (!next.has(byoKey(saved.uri))) next.set(byoKey(saved.uri), makeByo(saved, true));
      }
    }
    this.accounts = next;
    this.changed();
    if (welcome.resumed === true) return; // the server kept every registration of this tab
    for (const account of this.accounts.values()) {
      if (account.kind === 'byo' && account.remembered && account.params.password) this.register(account);
    }
  }

  onRegistration(msg) {
    const key = typeof msg.account === 'string' ? configuredKey(msg.account)
      : typeof msg.uri === 'string' ? byoKey(msg.uri) : null;
    const account = key && this.accounts.get(key);
    if (!account) return; // e.g. a late push about an account we just forgot
    applyState(account, msg);
    this.changed(account);
  }

  get(key) {
    return this.accounts.get(key);
  }

  // Registers a known account (configured, or BYO with its password at hand).
  async register(account) {
    if (account.kind === 'byo' && !account.params.password) {
      this.dispatchEvent(new CustomEvent('needpassword', { detail: { account } }));
      return;
    }
    const fields = account.kind === 'configured' ? { account: account.name } : byoRegisterFields(account.params);
    applyState(account, { state: 'registering' });
    account.note = '';
    this.changed(account);
    try {
      await this.signaling.request('register', fields, { timeoutMs: REGISTER_TIMEOUT_MS });
    } catch (err) {
      this.requestFailed(account, err);
    }
    // A password that was not to be remembered has now been sent once: drop it.
    if (account.kind === 'byo' && !account.remembered) delete account.params.password;
  }

  // Only bring-your-own accounts can be unregistered: a configured account stays registered on
  // the server for everyone who may use it (`unregister` would get not_allowed).
  async unregister(account) {
    if (account.kind !== 'byo') return;
    try {
      await this.signaling.request('unregister', { uri: account.params.uri });
    } catch (err) {
      this.requestFailed(account, err);
    }
  }

  // Adds (or replaces) a BYO account from the form and registers it.
  // Throws an Error with a user-facing message when it cannot.
  async addByo(params, remember) {
    if (!this.byoAllowed) throw new Error('This server does not accept your own SIP accounts.');
    const existing = this.accounts.get(byoKey(params.uri));
    if (existing && ['registered', 'registering'].includes(existing.registration.state)) {
      throw new Error('This account is already registered. Unregister it first to change its settings.');
    }
    if (!this.signaling.connected) throw new Error('Not connected to the server. Try again once the status says Connected.');
    const account = makeByo(params, remember);
    if (remember && !byoStore.remember(params)) {
      account.note = 'This browser would not store the account: it will be forgotten when the page closes.';
      account.remembered = false;
    } else if (!remember && existing && existing.remembered) {
      byoStore.forget(params.uri);
    }
    this.accounts.set(account.key, account);
    await this.register(account);
    return account;
  }

  // Removes a BYO account from this tab and this device, unregistering it first if needed.
  async forgetByo(account) {
    byoStore.forget(account.params.uri);
    this.accounts.delete(account.key);
    this.changed();
    if (account.registration.state !== 'unregistered' && this.signaling.connected) {
      try {
        await this.signaling.request('unregister', { uri: account.params.uri });
      } catch {
        // Already gone on the server side (not_registered) or the socket dropped, which ends
        // the registration anyway: nothing left to do.
      }
    }
  }

  // A request the server refused (or that never reached it) shows on the account as a failure.
  requestFailed(account, err) {
    if (err instanceof SignalingError && err.code === 'timeout') return; // pushes may still come
    if (err instanceof SignalingError && err.code === 'already_registered') return;
    if (err instanceof SignalingError && err.code === 'not_registered') {
      applyState(account, { state: 'unregistered' });
    } else {
      applyState(account, { state: 'failed', code: 0, reason: describeRequestError(err) });
    }
    this.changed(account);
  }
}

function configuredKey(name) {
  return `configured:${name}`;
}

function byoKey(uri) {
  return `byo:${uri}`;
}

function makeAccount(kind, id, fields) {
  return {
    key: kind === 'configured' ? configuredKey(id) : byoKey(id),
    kind,
    name: '',
    uri: '',
    displayName: '',
    registration: { state: 'unregistered' },
    lastFailure: null, // {code, reason} of the latest failure, kept while retrying
    note: '',
    ...fields,
  };
}

function makeByo(params, remembered) {
  return makeAccount('byo', params.uri, {
    uri: params.uri,
    params: { ...params },
    remembered: Boolean(remembered),
  });
}

function byoRegisterFields(params) {
  const fields = { uri: params.uri, username: params.username, password: params.password };
  if (params.proxy) fields.proxy = params.proxy;
  if (params.transport) fields.transport = params.transport;
  return fields;
}

function applyState(account, msg) {
  const state = ['registering', 'registered', 'failed', 'unregistered', 'not_registering'].includes(msg.state) ? msg.state : 'unregistered';
  account.registration = {
    state,
    code: Number.isInteger(msg.code) ? msg.code : 0,
    reason: typeof msg.reason === 'string' ? msg.reason : '',
    expires: Number.isInteger(msg.expires) ? msg.expires : 0,
    // Kept as a clock time: "retry in 300 s" is only true at the moment it arrived.
    retryAt: Number.isInteger(msg.retry_in) && msg.retry_in > 0 ? Date.now() + msg.retry_in * 1000 : 0,
  };
  if (state === 'failed') account.lastFailure = { code: account.registration.code, reason: account.registration.reason };
  if (state === 'registered' || state === 'unregistered') account.lastFailure = null;
}

const REQUEST_ERRORS = {
  unknown_account: 'The server does not know this account any more.',
  not_allowed: 'You are not allowed to use this account.',
  byo_disabled: 'This server does not accept your own SIP accounts.',
  domain_not_allowed: 'This server does not allow accounts at that domain.',
  too_many: 'Too many accounts are registered from this tab.',
  not_connected: 'Not connected to the server.',
  disconnected: 'The connection to the server was lost.',
};

function describeRequestError(err) {
  if (err instanceof SignalingError) return REQUEST_ERRORS[err.code] || err.message || err.code;
  return String(err && err.message ? err.message : err);
}
