// phone-match: does a dialled or calling address belong to a contact's number or SIP URI?
// Pure functions (no DOM).
//
// Addresses are reduced to a key before comparing:
//   numbers and tel: URIs -> digits only, "+" kept, "00" read as "+" ("+44 20 ..." == "0044 20 ...")
//   SIP URIs              -> "sip:user@host" lowercased, no parameters, no port ("sips:" == "sip:")
//   a SIP URI whose user part is a number (sip:+15550100@pbx) also matches that number: calls
//   from a provider arrive that way.
// Two numbers match when their keys are equal, or when both have at least 9 digits and the
// last 9 agree: the same line written nationally ("030 1234567") and internationally
// ("+49 30 1234567"). Nine digits keep short extensions from matching each other by accident.

const TAIL = 9;

export function numberKey(text) {
  let t = String(text || '').trim().replace(/^tel:/i, '').replace(/;.*$/, '');
  t = t.replace(/[\s\-.()/]/g, '');
  if (t.startsWith('00')) t = `+${t.slice(2)}`;
  return /^\+?[0-9*#]+$/.test(t) ? t : '';
}

export function sipKey(text) {
  const t = String(text || '').trim().toLowerCase().replace(/^sips?:/, '');
  const bare = t.replace(/[;?].*$/, '');
  const at = bare.indexOf('@');
  if (at <= 0) return '';
  const host = bare.slice(at + 1).replace(/:\d+$/, '');
  return `sip:${bare.slice(0, at)}@${host}`;
}

// The keys an address can be known by: a SIP key and/or a number key.
export function addressKeys(text) {
  const t = String(text || '').trim();
  if (/^sips?:/i.test(t) || (/@/.test(t) && !/^tel:/i.test(t))) {
    const key = sipKey(t);
    const user = key ? key.slice(4, key.indexOf('@')) : '';
    return { sip: key, number: numberKey(user) };
  }
  return { sip: '', number: numberKey(t) };
}

export function numbersMatch(a, b) {
  if (!a || !b) return false;
  if (a === b) return true;
  const da = a.replace(/\D/g, '');
  const db = b.replace(/\D/g, '');
  return da.length >= TAIL && db.length >= TAIL && da.slice(-TAIL) === db.slice(-TAIL);
}

// Whether two addresses (as typed, or URIs) are the same party.
export function sameParty(a, b) {
  const ka = addressKeys(a);
  const kb = addressKeys(b);
  if (ka.sip && kb.sip && ka.sip === kb.sip) return true;
  return numbersMatch(ka.number, kb.number);
}
