// dial-target: what the user typed in the dial field -> the `to` of a `call` message.
// Pure functions (no DOM), so the rules can be checked on their own.
//
// Accepted, as docs/protocol.md's *target* allows:
//   digits as people type them  "+1 (555) 010-9999", "*97", "0049 30 1234#"
//   tel: URIs                   "tel:+15550109999"
//   SIP URIs                    "sip:bob@example.com", "sips:bob@example.com;transport=tls"
//   user@host                   "bob@example.com" -> "sip:bob@example.com"
//   the built-in test line      "echo"

export const ECHO_TARGET = 'echo';

const NUMBER = /^[0-9+*#\-.() ]+$/;
const SIP_URI = /^sips?:[^\s@]+(@[^\s@]+)?$/i;
const USER_AT_HOST = /^[^\s@:]+@[^\s@:;]+(:\d+)?(;\S*)?$/;

// Returns {to, label} (label: how to show the other side) or null when it is none of the
// above. Separators in numbers are dropped: they are for people, and a provider's dial plan
// wants the bare digits.
export function parseTarget(text) {
  const t = String(text).trim();
  if (t === '' || t.length > 256) return null;
  if (t.toLowerCase() === ECHO_TARGET) return { to: ECHO_TARGET, label: 'Test call (echo)' };
  if (NUMBER.test(t)) {
    const digits = t.replace(/[\-.() ]/g, '');
    // "+" only leads (E.164); at least one dialable character.
    if (!/^\+?[0-9*#]+$/.test(digits)) return null;
    return { to: digits, label: digits };
  }
  if (/^tel:/i.test(t)) {
    const rest = t.slice(4);
    if (rest === '' || /\s/.test(rest)) return null;
    return { to: `tel:${rest}`, label: rest };
  }
  if (/^sips?:/i.test(t)) {
    if (!SIP_URI.test(t)) return null;
    const to = t.replace(/^sips?:/i, (s) => s.toLowerCase());
    return { to, label: to.replace(/^sips?:/, '') };
  }
  if (USER_AT_HOST.test(t)) return { to: `sip:${t}`, label: t };
  return null;
}

// How a SIP/tel URI reads to a person: no scheme, no parameters.
export function shortUri(uri) {
  return String(uri || '').replace(/^(sips?|tel):/i, '').replace(/[;?].*$/, '');
}
