// vcard: contacts to and from vCard (RFC 2426 = 3.0, RFC 6350 = 4.0). Pure functions.
//
// Mapping (a contact is a name plus numbers and SIP URIs, each with an optional label):
//   name        <- FN; without FN, N (given + family), then ORG.   -> FN and N (split at the last
//                  space: "Ada King Lovelace" -> N:Lovelace;Ada King;;;)
//   number      <- TEL (text "+1 555 0100", or a URI "tel:+1-555-0100"). -> TEL;TYPE=...
//   SIP URI     <- IMPP with a sip:/sips: value (RFC 4770, used by Apple and Google),
//                  X-SIP (Android, Outlook; with or without "sip:"), URL with a sip: value,
//                  TEL whose value is a sip: URI (vCard 4.0 allows any URI).  -> IMPP:sip:...
//                  IMPP values of other schemes (xmpp:, skype:) are not SIP and are ignored.
//   label       <- TYPE parameters (cell/mobile, home, work, fax, pager, main, ...; "voice",
//                  "pref", "internet", "x-..." say nothing useful and are dropped), or an
//                  Apple "itemN.X-ABLabel" in the same group, which wins.
//               -> a known label becomes TYPE=CELL/HOME/WORK/...; any other label is written
//                  as an Apple group label (itemN.TEL + itemN.X-ABLabel) so it survives.
// Everything else in a card (emails, addresses, photos) is ignored on import.
//
// Parsing: CRLF or LF line ends, folded lines (a line starting with a space or tab continues
// the previous one), escaped characters (\\ \, \; \n), parameters in either form (TYPE=a,b /
// TYPE="a,b" / TYPE=a;TYPE=b / 2.1-style bare ;CELL), property groups (item1.TEL), any case,
// several cards per file. A file that is not well-formed throws a VCardError naming the line,
// and no card of it is returned: the caller imports all or nothing.

export class VCardError extends Error {
  constructor(message, line = 0) {
    super(line ? `Line ${line}: ${message}` : message);
    this.name = 'VCardError';
  }
}

export const MAX_BYTES = 5 * 1024 * 1024;

const LABEL_TO_TYPE = {
  mobile: 'CELL', cell: 'CELL', home: 'HOME', work: 'WORK', fax: 'FAX', pager: 'PAGER',
  main: 'MAIN', video: 'VIDEO', text: 'TEXT', car: 'CAR', iphone: 'IPHONE', other: 'OTHER',
};
const TYPE_TO_LABEL = {
  cell: 'mobile', mobile: 'mobile', home: 'home', work: 'work', fax: 'fax', pager: 'pager', main: 'main',
  video: 'video', text: 'text', textphone: 'textphone', car: 'car', iphone: 'iPhone', other: 'other',
  isdn: 'ISDN', bbs: 'BBS', modem: 'modem', msg: 'message', pcs: 'PCS',
};
// TYPE values that say nothing a person would want as a label.
const NOISE_TYPES = new Set(['voice', 'pref', 'internet', 'x400', 'personal', 'uri', 'sip']);

// ---- reading ------------------------------------------------------------------------------

// Joins folded lines; returns [{text, line}] with the line number where each logical line began.
function unfold(text) {
  const out = [];
  const physical = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  physical.forEach((raw, i) => {
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && out.length > 0) {
      out[out.length - 1].text += raw.slice(1);
    } else {
      out.push({ text: raw, line: i + 1 });
    }
  });
  return out.filter((l) => l.text.trim() !== '');
}

// Splits on `sep` outside double quotes.
function splitOutsideQuotes(text, sep) {
  const parts = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return { parts, unbalanced: quoted };
}

// "item1.TEL;TYPE=cell,voice;PREF=1:+1 555" -> {group, name, params: {type: ['cell','voice'], ...}, value}
function parseLine({ text, line }) {
  // The value starts at the first colon outside a quoted parameter value.
  let quoted = false;
  let colon = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (text[i] === ':' && !quoted) {
      colon = i;
      break;
    }
  }
  if (colon <= 0) throw new VCardError(`"${text.slice(0, 40)}" is not a vCard line (NAME:value).`, line);
  const head = text.slice(0, colon);
  const value = text.slice(colon + 1);
  const { parts, unbalanced } = splitOutsideQuotes(head, ';');
  if (unbalanced) throw new VCardError('a parameter has an unclosed quote.', line);
  const [fullName, ...rawParams] = parts;
  const dot = fullName.lastIndexOf('.');
  const group = dot >= 0 ? fullName.slice(0, dot).toLowerCase() : '';
  const name = (dot >= 0 ? fullName.slice(dot + 1) : fullName).toUpperCase();
  if (!/^[A-Z0-9-]+$/.test(name)) throw new VCardError(`"${fullName}" is not a property name.`, line);
  const params = {};
  for (const p of rawParams) {
    const eq = p.indexOf('=');
    // vCard 2.1 style "TEL;CELL:..." is read as TYPE=CELL.
    const key = (eq >= 0 ? p.slice(0, eq) : 'TYPE').trim().toLowerCase();
    const val = eq >= 0 ? p.slice(eq + 1) : p;
    // TYPE="cell,voice" (4.0) and TYPE=cell,voice (3.0) are the same list.
    const values = splitOutsideQuotes(val, ',').parts
      .flatMap((v) => (/^\s*".*"\s*$/.test(v) ? v.trim().slice(1, -1).split(',') : [v]))
      .map((v) => v.trim()).filter(Boolean);
    params[key] = [...(params[key] || []), ...values];
  }
  return { group, name, params, value, line };
}

// Undoes text escaping: \\ \, \; \n \N. Other backslashes are kept as they are (lenient).
export function unescapeText(text) {
  return text.replace(/\\([\\,;nN])/g, (_, c) => (c === 'n' || c === 'N' ? '\n' : c));
}

// Splits a structured value (N, ADR) on unescaped ";" and unescapes each part.
function splitStructured(text) {
  const parts = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) {
      cur += text[i] + text[i + 1];
      i++;
    } else if (text[i] === ';') {
      parts.push(cur);
      cur = '';
    } else {
      cur += text[i];
    }
  }
  parts.push(cur);
  return parts.map(unescapeText);
}

function labelFromTypes(types) {
  for (const t of types.map((x) => x.toLowerCase())) {
    if (NOISE_TYPES.has(t) || t.startsWith('x-')) continue;
    return TYPE_TO_LABEL[t] || t;
  }
  return '';
}

function sipFrom(value) {
  const v = unescapeText(value).trim();
  return /^sips?:/i.test(v) ? v : '';
}

function cardToContact(props, beginLine) {
  const version = props.find((p) => p.name === 'VERSION');
  if (!version) throw new VCardError('the card has no VERSION (3.0 or 4.0 expected).', beginLine);
  if (!['3.0', '4.0'].includes(version.value.trim())) {
    throw new VCardError(`vCard version ${version.value.trim()} is not supported: export the contacts as vCard 3.0 or 4.0.`, version.line);
  }
  const labels = new Map(); // group -> X-ABLabel text
  for (const p of props) {
    if (p.name === 'X-ABLABEL' && p.group) labels.set(p.group, unescapeText(p.value).replace(/^_\$!<(.*)>!\$_$/, '$1').trim());
  }
  const labelOf = (p) => (p.group && labels.get(p.group)) || labelFromTypes(p.params.type || []);

  const entries = [];
  for (const p of props) {
    if (p.name === 'TEL') {
      const raw = unescapeText(p.value).trim();
      if (raw === '') continue;
      if (/^sips?:/i.test(raw)) entries.push({ kind: 'sip', value: raw, label: labelOf(p) });
      else entries.push({ kind: 'tel', value: raw.replace(/^tel:/i, '').replace(/;.*$/, ''), label: labelOf(p) });
    } else if (p.name === 'IMPP' || p.name === 'URL') {
      const sip = sipFrom(p.value);
      if (sip) entries.push({ kind: 'sip', value: sip, label: labelOf(p) });
    } else if (p.name === 'X-SIP') {
      const v = unescapeText(p.value).trim();
      if (v) entries.push({ kind: 'sip', value: /^sips?:/i.test(v) ? v : `sip:${v}`, label: labelOf(p) });
    }
  }

  let name = '';
  const fn = props.find((p) => p.name === 'FN');
  if (fn) name = unescapeText(fn.value).trim();
  const n = props.find((p) => p.name === 'N');
  if (!name && n) {
    const [family = '', given = '', additional = '', prefix = '', suffix = ''] = splitStructured(n.value);
    name = [prefix, given, additional, family, suffix].map((s) => s.trim()).filter(Boolean).join(' ');
  }
  const org = props.find((p) => p.name === 'ORG');
  if (!name && org) name = splitStructured(org.value)[0].trim();
  if (!name) throw new VCardError('the card has no name (FN, N or ORG).', beginLine);
  return { name, entries };
}

// Parses every card of a vCard file. Returns [{name, entries}]; throws VCardError.
export function parseVCards(text) {
  if (typeof text !== 'string') throw new VCardError('the file could not be read as text.');
  if (text.length > MAX_BYTES) throw new VCardError('the file is larger than 5 MB.');
  const contacts = [];
  let props = null;
  let begin = 0;
  for (const logical of unfold(text)) {
    const p = parseLine(logical);
    if (p.name === 'BEGIN' && p.value.trim().toUpperCase() === 'VCARD') {
      if (props) throw new VCardError('a card starts before the previous one ended (missing END:VCARD).', p.line);
      props = [];
      begin = p.line;
    } else if (p.name === 'END' && p.value.trim().toUpperCase() === 'VCARD') {
      if (!props) throw new VCardError('END:VCARD without BEGIN:VCARD.', p.line);
      contacts.push(cardToContact(props, begin));
      props = null;
    } else if (!props) {
      throw new VCardError(`"${logical.text.slice(0, 40)}" is outside any card (BEGIN:VCARD ... END:VCARD).`, p.line);
    } else {
      props.push(p);
    }
  }
  if (props) throw new VCardError('the last card has no END:VCARD (the file may be cut short).', begin);
  if (contacts.length === 0) throw new VCardError('the file holds no vCard (BEGIN:VCARD ... END:VCARD).');
  return contacts;
}

// ---- writing ------------------------------------------------------------------------------

export function escapeText(text) {
  return String(text).replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/;/g, '\\;').replace(/\r?\n/g, '\\n');
}

// Folds at 75 octets (RFC 6350 §3.2), never inside a UTF-8 sequence.
function fold(line) {
  const bytes = (s) => new TextEncoder().encode(s).length;
  if (bytes(line) <= 75) return line;
  const out = [];
  let cur = '';
  for (const ch of line) {
    const limit = out.length === 0 ? 75 : 74; // continuation lines begin with a space
    if (bytes(cur + ch) > limit) {
      out.push(cur);
      cur = '';
    }
    cur += ch;
  }
  out.push(cur);
  return out.join('\r\n ');
}

function splitName(name) {
  const i = name.lastIndexOf(' ');
  return i > 0 ? [name.slice(i + 1), name.slice(0, i)] : [name, ''];
}

// Writes contacts as one vCard 3.0 file (the version most address books import).
export function toVCards(contacts) {
  const lines = [];
  for (const c of contacts) {
    const [family, given] = splitName(c.name);
    lines.push('BEGIN:VCARD', 'VERSION:3.0', `FN:${escapeText(c.name)}`, `N:${escapeText(family)};${escapeText(given)};;;`);
    let item = 0;
    for (const e of c.entries) {
      const label = (e.label || '').trim();
      const type = LABEL_TO_TYPE[label.toLowerCase()];
      const base = e.kind === 'sip' ? 'IMPP' : 'TEL';
      const value = e.kind === 'sip' ? e.value : escapeText(e.value);
      const extra = e.kind === 'sip' ? ';X-SERVICE-TYPE=SIP' : '';
      if (!label) lines.push(`${base}${extra}${e.kind === 'tel' ? ';TYPE=VOICE' : ''}:${value}`);
      else if (type) lines.push(`${base}${extra};TYPE=${type}:${value}`);
      else {
        item++;
        lines.push(`item${item}.${base}${extra}:${value}`, `item${item}.X-ABLabel:${escapeText(label)}`);
      }
    }
    if (c.id) lines.push(`UID:urn:uuid:${c.id}`);
    lines.push('END:VCARD');
  }
  return `${lines.map(fold).join('\r\n')}\r\n`;
}
