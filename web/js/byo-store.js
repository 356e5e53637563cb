// byo-store: "remember on this device" for bring-your-own SIP accounts.
//
// Only accounts whose owner ticked the box end up here, password included, in this origin's
// localStorage. Nothing else about a BYO account is ever persisted: an unticked password is
// sent to the server once and then forgotten by the page.

const KEY = 'tabphone.byo.v1';
const FIELDS = ['uri', 'username', 'password', 'proxy', 'transport'];

function pick(account) {
  const out = {};
  for (const field of FIELDS) {
    if (typeof account[field] === 'string' && account[field] !== '') out[field] = account[field];
  }
  return out;
}

// localStorage can be missing or throw (storage disabled, quota, private windows); the page
// then simply remembers nothing.
function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function loadRemembered() {
  const store = storage();
  if (!store) return [];
  try {
    const list = JSON.parse(store.getItem(KEY) || '[]');
    return Array.isArray(list) ? list.filter((a) => a && typeof a.uri === 'string').map(pick) : [];
  } catch {
    return [];
  }
}

function saveAll(list) {
  const store = storage();
  if (!store) return false;
  try {
    if (list.length === 0) store.removeItem(KEY);
    else store.setItem(KEY, JSON.stringify(list));
    return true;
  } catch {
    return false;
  }
}

export function remember(account) {
  const list = loadRemembered().filter((a) => a.uri !== account.uri);
  list.push(pick(account));
  return saveAll(list);
}

export function forget(uri) {
  return saveAll(loadRemembered().filter((a) => a.uri !== uri));
}
