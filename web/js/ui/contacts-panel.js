// contacts-panel: the address book tab: search-as-you-type, the list (click a number or SIP
// address to call it), edit / delete, and vCard import / export.

import { byId, el, show } from './dom.js';
import { mountContactEditor } from './contact-editor.js';
import { parseVCards, toVCards, MAX_BYTES } from '../vcard.js';
import { announce } from './announce.js';

export function mountContactsPanel(book, dialer) {
  const browse = byId('contact-browse');
  const search = byId('contact-search');
  const count = byId('contact-count');
  const list = byId('contact-list');
  const empty = byId('contacts-empty');
  const error = byId('contacts-error');
  const status = byId('contacts-status');
  const newButton = byId('contact-new');
  const fileInput = byId('contacts-file');
  let confirming = null; // id of the contact whose delete waits for confirmation

  const editor = mountContactEditor(book, (saved) => {
    show(browse, true);
    newButton.disabled = false;
    render();
    if (saved) {
      say(`Saved ${saved.name}.`);
      const row = list.querySelector(`[data-id="${CSS.escape(saved.id)}"] .contact-edit`);
      (row || search).focus();
    } else {
      newButton.focus();
    }
  });

  function say(text, isError = false) {
    error.textContent = isError ? text : '';
    show(error, isError && text !== '');
    status.textContent = isError ? '' : text;
    show(status, !isError && text !== '');
  }

  function entryButton(contact, entry) {
    const label = entry.label || (entry.kind === 'sip' ? 'SIP' : '');
    return el('li', {},
      el('button', {
        type: 'button', class: 'entry-call', dataset: { kind: entry.kind },
        'aria-label': `Call ${contact.name}${entry.label ? `, ${entry.label}` : ''}: ${entry.value}`,
        onclick: () => dialer.call(entry.value),
      },
      el('span', { class: 'entry-icon', 'aria-hidden': 'true' }, entry.kind === 'sip' ? '@' : '✆'),
      el('span', { class: 'entry-text' },
        label ? el('span', { class: 'entry-label-text' }, label) : null,
        el('span', { class: 'entry-value-text' }, entry.value.replace(/^sip:/, '')))));
  }

  function contactRow(contact) {
    const tools = confirming === contact.id
      ? el('div', { class: 'confirm-inline', role: 'group', 'aria-label': `Delete ${contact.name}?` },
        el('span', {}, `Delete ${contact.name}?`),
        el('button', {
          type: 'button', class: 'btn btn-danger contact-delete-yes', onclick: () => {
            confirming = null;
            book.remove(contact.id);
            say(`Deleted ${contact.name}.`);
            search.focus();
          },
        }, 'Delete'),
        el('button', {
          type: 'button', class: 'btn contact-delete-no', onclick: () => {
            confirming = null;
            render();
            list.querySelector(`[data-id="${CSS.escape(contact.id)}"] .contact-delete`)?.focus();
          },
        }, 'Keep'))
      : el('div', { class: 'contact-tools' },
        el('button', {
          type: 'button', class: 'btn btn-quiet contact-edit', 'aria-label': `Edit ${contact.name}`,
          onclick: () => startEdit(contact),
        }, 'Edit'),
        el('button', {
          type: 'button', class: 'btn btn-quiet contact-delete', 'aria-label': `Delete ${contact.name}`,
          onclick: () => {
            confirming = contact.id;
            render();
            list.querySelector(`[data-id="${CSS.escape(contact.id)}"] .contact-delete-no`)?.focus();
          },
        }, 'Delete'));
    const titleId = `contact-${contact.id}`;
    return el('li', { class: 'contact', dataset: { id: contact.id }, 'aria-labelledby': titleId },
      el('div', { class: 'contact-head' }, el('h3', { id: titleId, class: 'contact-name' }, contact.name), tools),
      contact.entries.length
        ? el('ul', { class: 'contact-entries', 'aria-label': `Numbers and addresses of ${contact.name}` },
          contact.entries.map((e) => entryButton(contact, e)))
        : el('p', { class: 'muted contact-none' }, 'No number or address yet.'));
  }

  function render() {
    const all = book.list();
    const hits = book.search(search.value);
    list.replaceChildren(...hits.map(contactRow));
    const q = search.value.trim();
    count.textContent = all.length === 0 ? '' : q ? `${hits.length} of ${all.length} contacts match.` : `${all.length} contact${all.length === 1 ? '' : 's'}.`;
    empty.textContent = all.length === 0
      ? 'No contacts yet. Add one, or import a vCard file from your phone or address book.'
      : hits.length === 0 ? `Nobody matches “${q}”.` : '';
    show(empty, empty.textContent !== '');
    show(list, hits.length > 0);
    byId('contacts-export').disabled = all.length === 0;
  }

  function startEdit(contact) {
    say('');
    confirming = null;
    show(browse, false);
    newButton.disabled = true;
    editor.edit(contact);
  }

  newButton.addEventListener('click', () => startEdit(null));
  search.addEventListener('input', render);
  // Enter in the search field calls the only match's first number: quick dialling by name.
  search.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter') return;
    const hits = book.search(search.value);
    if (hits.length === 1 && hits[0].entries.length > 0) dialer.call(hits[0].entries[0].value);
  });

  byId('contacts-import').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    try {
      if (file.size > MAX_BYTES) throw new Error('the file is larger than 5 MB.');
      const parsed = parseVCards(await file.text());
      const { added, skipped } = book.importAll(parsed);
      const dup = skipped ? ` (${skipped} already in your contacts)` : '';
      say(`Imported ${added} contact${added === 1 ? '' : 's'} from ${file.name}${dup}.`);
      announce(status.textContent);
    } catch (err) {
      say(`Nothing was imported from ${file.name}: ${err.message}`, true);
    }
  });

  byId('contacts-export').addEventListener('click', () => {
    const blob = new Blob([toVCards(book.list())], { type: 'text/vcard;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: 'tabphone-contacts.vcf', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    say(`Exported ${book.list().length} contacts to tabphone-contacts.vcf.`);
  });

  book.addEventListener('change', () => {
    if (!editor.open) render();
  });
  render();

  return {
    focusSearch() {
      search.focus();
    },
  };
}
