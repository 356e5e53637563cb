// store: JSON values in this origin's localStorage, for the small things the page keeps
// across reloads (contacts, call history, device choice, the open tab).
//
// localStorage rather than IndexedDB: every list here is small (a few hundred entries at most,
// well under the ~5 MB quota), synchronous reads keep the modules simple, and the `storage`
// event tells other open tabs about a change for free. Storage may be missing or throw (disabled,
// quota, private windows): load() then returns the fallback and save() returns false, so the
// page keeps working with nothing remembered.

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function load(key, fallback) {
  const s = storage();
  if (!s) return fallback;
  try {
    const raw = s.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

export function save(key, value) {
  const s = storage();
  if (!s) return false;
  try {
    s.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

// Calls fn when another tab of this origin changed `key`.
export function onExternalChange(key, fn) {
  window.addEventListener('storage', (ev) => {
    if (ev.key === key || ev.key === null) fn();
  });
}
