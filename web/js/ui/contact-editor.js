// contact-editor: the form that adds or edits one contact: a name and any number of rows, each
// a phone number or a SIP address with an optional label ("mobile", "work", "desk phone").
//
// open(contact | null) shows it; it calls onDone(savedContact | null) when saved or cancelled.
// Errors are shown in the form and focus goes to the field at fault.

import { byId, el, show } from './dom.js';
import { cleanEntry } from '../contacts.js';

let rowSeq = 0;

export function mountContactEditor(book, onDone) {
  const form = byId('contact-form');
  const title = byId('contact-form-title');
  const name = byId('contact-name');
  const rows = byId('contact-entries');
  const error = byId('contact-form-error');
  let editingId = null;

  function showError(text, field = null) {
    error.textContent = text;
    show(error, text !== '');
    for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  function addRow(kind, value = '', label = '', focus = false) {
    const n = ++rowSeq;
    const what = kind === 'sip' ? 'SIP address' : 'Number';
    const valueInput = el('input', {
      id: `entry-value-${n}`, type: 'text', className: 'entry-value', autocomplete: 'off', spellcheck: false,
      autocapitalize: 'none', value, placeholder: kind === 'sip' ? 'sip:alice@example.com' : '+1 415 555 0100',
      inputMode: kind === 'sip' ? 'email' : 'tel',
    });
    const labelInput = el('input', {
      id: `entry-label-${n}`, type: 'text', className: 'entry-label', autocomplete: 'off', value: label,
      placeholder: kind === 'sip' ? 'desk phone' : 'mobile',
    });
    const li = el('li', { class: 'entry-row', dataset: { kind } },
      el('div', { class: 'field' }, el('label', { for: valueInput.id }, what), valueInput),
      el('div', { class: 'field field-small' },
        el('label', { for: labelInput.id }, 'Label ', el('span', { class: 'optional' }, '(optional)')), labelInput),
      el('button', {
        type: 'button', class: 'btn btn-quiet entry-remove', 'aria-label': `Remove this ${kind === 'sip' ? 'SIP address' : 'number'}`,
        onclick: () => {
          const next = li.nextElementSibling || li.previousElementSibling;
          li.remove();
          (next ? next.querySelector('input') : byId(kind === 'sip' ? 'contact-add-sip' : 'contact-add-tel')).focus();
        },
      }, 'Remove'));
    // Numbers stay together above the SIP addresses, in the order they were added.
    const lastTel = [...rows.querySelectorAll('.entry-row[data-kind="tel"]')].at(-1);
    if (kind === 'tel' && lastTel) lastTel.after(li);
    else if (kind === 'tel') rows.prepend(li);
    else rows.append(li);
    if (focus) valueInput.focus();
  }

  byId('contact-add-tel').addEventListener('click', () => addRow('tel', '', '', true));
  byId('contact-add-sip').addEventListener('click', () => addRow('sip', '', '', true));
  byId('contact-cancel').addEventListener('click', () => close(null));
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') close(null);
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (name.value.trim() === '') return showError('Enter a name.', name);
    const entries = [];
    for (const li of rows.children) {
      const valueInput = li.querySelector('.entry-value');
      const raw = { kind: li.dataset.kind, value: valueInput.value, label: li.querySelector('.entry-label').value };
      if (raw.value.trim() === '') continue; // an empty row is just not used
      const { entry, error: problem } = cleanEntry(raw);
      if (problem) return showError(problem, valueInput);
      entries.push(entry);
    }
    try {
      const saved = book.put({ id: editingId, name: name.value, entries });
      close(saved);
    } catch (err) {
      showError(err.message);
    }
    return undefined;
  });

  function close(saved) {
    show(form, false);
    rows.replaceChildren();
    editingId = null;
    onDone(saved);
  }

  return {
    get open() {
      return !form.hidden;
    },
    edit(contact) {
      editingId = contact ? contact.id : null;
      title.textContent = contact ? `Edit ${contact.name}` : 'New contact';
      name.value = contact ? contact.name : '';
      rows.replaceChildren();
      showError('');
      if (contact) for (const e of contact.entries) addRow(e.kind, e.value, e.label);
      // A new contact starts with one number and one SIP address row to fill in.
      if (!contact) {
        addRow('tel');
        addRow('sip');
      }
      show(form, true);
      name.focus();
    },
  };
}
