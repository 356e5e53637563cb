// contacts: the address book. A contact is a name plus any number of entries, each a phone
// number or a SIP URI with an optional label:
//
//   {id, name, entries: [{kind: 'tel' | 'sip', value, label}], updatedAt}
//
// Kept in localStorage (store.js) under one key, so contacts survive reloads and other tabs
// see changes. Emits "change" whenever the list changes (here or in another tab).

import { load, save, onExternalChange } from './store.js';
import { sameParty } from './phone-match.js';
import { parseTarget } from './dial-target.js';

const KEY = 'tabphone.contacts.v1';
export const MAX_CONTACTS = 5000;
const MAX_ENTRIES = 50;

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// Lowercase without accents, so "jose" finds "José".
export function fold(text) {
  return String(text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

// Checks and tidies one entry; returns {entry} or {error} in words.
export function cleanEntry(raw) {
  const kind = raw.kind === 'sip' ? 'sip' : 'tel';
  const label = String(raw.label || '').trim().slice(0, 64);
  let value = String(raw.value || '').trim();
  if (value === '') return { error: kind === 'sip' ? 'Enter the SIP address.' : 'Enter the number.' };
  if (kind === 'sip') {
    if (!/^sips?:/i.test(value)) value = `sip:${value}`;
    value = value.replace(/^sips?:/i, (s) => s.toLowerCase());
    if (!/^sips?:[^\s@]+@[^\s@]+$/.test(value) || value.length > 256) {
      return { error: `"${raw.value}" is not a SIP address like sip:alice@example.com.` };
    }
  } else {
    const target = parseTarget(value);
    if (!target || /^sips?:/.test(target.to) || target.to === 'echo') {
      return { error: `"${raw.value}" is not a phone number (digits, +, *, #, spaces, - . ( )).` };
    }
    value = value.replace(/^tel:/i, '');
  }
  return { entry: { kind, value, label } };
}

// Checks a whole contact as the editor or an import hands it over. Returns {contact} or {error}.
export function cleanContact(raw) {
  const name = String(raw.name || '').trim().replace(/\s+/g, ' ');
  if (name === '') return { error: 'Enter a name.' };
  if (name.length > 200) return { error: 'The name is too long (200 characters at most).' };
  const entries = [];
  for (const rawEntry of raw.entries || []) {
    const { entry, error } = cleanEntry(rawEntry);
    if (error) return { error };
    if (!entries.some((e) => e.kind === entry.kind && e.value === entry.value)) entries.push(entry);
  }
  if (entries.length > MAX_ENTRIES) return { error: `A contact can have at most ${MAX_ENTRIES} numbers and addresses.` };
  return { contact: { name, entries } };
}

function sameContent(a, b) {
  if (a.name !== b.name || a.entries.length !== b.entries.length) return false;
  return a.entries.every((e, i) => e.kind === b.entries[i].kind && e.value === b.entries[i].value && e.label === b.entries[i].label);
}

export class ContactBook extends EventTarget {
  constructor() {
    super();
    this.contacts = this.read();
    this.saveFailed = false;
    onExternalChange(KEY, () => {
      this.contacts = this.read();
      this.changed();
    });
  }

  read() {
    const list = load(KEY, []);
    if (!Array.isArray(list)) return [];
    return list.filter((c) => c && typeof c.id === 'string' && typeof c.name === 'string' && Array.isArray(c.entries));
  }

  changed() {
    this.dispatchEvent(new CustomEvent('change'));
  }

  persist() {
    this.saveFailed = !save(KEY, this.contacts);
    this.changed();
    return !this.saveFailed;
  }

  // Sorted by name, as people look things up.
  list() {
    return [...this.contacts].sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }));
  }

  get(id) {
    return this.contacts.find((c) => c.id === id) || null;
  }

  // Adds or replaces (same id) a contact. Throws an Error in words when it is not valid.
  put(raw) {
    const { contact, error } = cleanContact(raw);
    if (error) throw new Error(error);
    const existing = raw.id ? this.get(raw.id) : null;
    if (!existing && this.contacts.length >= MAX_CONTACTS) throw new Error(`The address book is full (${MAX_CONTACTS} contacts).`);
    const saved = { id: existing ? existing.id : newId(), ...contact, updatedAt: Date.now() };
    this.contacts = existing ? this.contacts.map((c) => (c.id === saved.id ? saved : c)) : [...this.contacts, saved];
    if (!this.persist()) throw new Error('This browser would not store the contact (storage full or disabled).');
    return saved;
  }

  remove(id) {
    this.contacts = this.contacts.filter((c) => c.id !== id);
    this.persist();
  }

  // All-or-nothing import of already parsed contacts ({name, entries}). Exact duplicates of a
  // contact already in the book are skipped. Returns {added, skipped}; throws in words.
  importAll(raws) {
    const cleaned = [];
    for (const [i, raw] of raws.entries()) {
      const { contact, error } = cleanContact(raw);
      if (error) throw new Error(`Contact ${i + 1} (${raw.name || 'no name'}): ${error}`);
      cleaned.push(contact);
    }
    const fresh = cleaned.filter((c, i) => !this.contacts.some((old) => sameContent(old, c))
      && !cleaned.slice(0, i).some((earlier) => sameContent(earlier, c)));
    if (this.contacts.length + fresh.length > MAX_CONTACTS) {
      throw new Error(`That would make more than ${MAX_CONTACTS} contacts; nothing was imported.`);
    }
    const before = this.contacts;
    this.contacts = [...before, ...fresh.map((c) => ({ id: newId(), ...c, updatedAt: Date.now() }))];
    if (!this.persist()) {
      this.contacts = before;
      this.changed();
      throw new Error('This browser would not store the contacts (storage full or disabled); nothing was imported.');
    }
    return { added: fresh.length, skipped: cleaned.length - fresh.length };
  }

  // Search-as-you-type: every word of the query must appear in the name, a label, a value, or
  // (for digits) in a number with its separators dropped ("5550" finds "+1 555-0100").
  search(query) {
    const words = fold(query).split(/\s+/).filter(Boolean);
    if (words.length === 0) return this.list();
    return this.list().filter((c) => {
      const hay = [fold(c.name), ...c.entries.map((e) => fold(`${e.label} ${e.value}`))].join('\n');
      const digits = c.entries.map((e) => e.value.replace(/[^0-9+*#]/g, '')).join('\n');
      return words.every((w) => hay.includes(w) || (/^[0-9+*#\-.()]+$/.test(w) && digits.includes(w.replace(/[\-.()]/g, ''))));
    });
  }

  // The contact (and entry) an address belongs to, or null. Used to name callers and callees.
  lookup(address) {
    if (!address) return null;
    for (const contact of this.contacts) {
      const entry = contact.entries.find((e) => sameParty(e.kind === 'sip' ? e.value : e.value, address));
      if (entry) return { contact, entry };
    }
    return null;
  }

  nameFor(address) {
    const hit = this.lookup(address);
    return hit ? hit.contact.name : '';
  }
}
