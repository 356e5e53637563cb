// history-panel: the call log tab: who (the contact's name when the address is in the address
// book), when, how long, how it ended, a Call back button; "Clear history"; and the missed-call
// count (History tab badge, a header button, the page title) since the history was last viewed.

import { byId, el, show } from './dom.js';
import { formatDuration } from './call-text.js';
import { shortUri } from '../dial-target.js';
import { setMissedTitle } from './title.js';

const KIND_WORDS = { outgoing: 'Outgoing', incoming: 'Incoming', missed: 'Missed' };
const KIND_ICONS = { outgoing: '↗', incoming: '↙', missed: '✕' };

function when(at, now = new Date()) {
  const d = new Date(at);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const dayStart = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (at >= dayStart) return `Today ${time}`;
  if (at >= dayStart - 86_400_000) return `Yesterday ${time}`;
  const sameYear = d.getFullYear() === now.getFullYear();
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short', ...(!sameYear && { year: 'numeric' }) })} ${time}`;
}

export function mountHistoryPanel(history, book, dialer, tabs) {
  const list = byId('history-list');
  const empty = byId('history-empty');
  const clear = byId('history-clear');
  const confirm = byId('history-confirm');
  const badge = byId('history-badge');
  const pill = byId('missed-pill');
  const panel = byId('history-view');

  function who(entry) {
    if (entry.echo) return 'Test call';
    return book.nameFor(entry.peerUri) || entry.peerName || shortUri(entry.peerUri) || 'Unknown';
  }

  function row(entry) {
    const name = who(entry);
    const address = entry.echo ? '' : shortUri(entry.peerUri);
    const duration = entry.durationMs > 0 ? formatDuration(entry.durationMs) : '';
    const canCall = entry.peerUri && !/^anonymous@|^anonymous$/i.test(shortUri(entry.peerUri));
    return el('li', { class: 'history-entry', dataset: { kind: entry.kind } },
      el('span', { class: 'history-icon', 'aria-hidden': 'true' }, KIND_ICONS[entry.kind] || '•'),
      el('div', { class: 'history-main' },
        el('p', { class: 'history-who' }, name),
        address && address !== name ? el('p', { class: 'history-address' }, address) : null,
        el('p', { class: 'history-meta' },
          el('span', { class: 'history-kind' }, KIND_WORDS[entry.kind] || entry.kind),
          ' · ', el('time', { dateTime: new Date(entry.at).toISOString() }, when(entry.at)),
          duration ? el('span', { class: 'history-duration' }, ` · ${duration}`) : null),
        entry.reason ? el('p', { class: 'history-reason' }, entry.reason) : null),
      canCall
        ? el('button', {
          type: 'button', class: 'btn history-call', 'aria-label': `Call back ${name}`,
          onclick: () => dialer.call(entry.echo ? 'echo' : entry.peerUri),
        }, 'Call back')
        : null);
  }

  function render() {
    const entries = history.list();
    list.replaceChildren(...entries.map(row));
    show(list, entries.length > 0);
    show(empty, entries.length === 0);
    clear.disabled = entries.length === 0;
    renderBadge();
  }

  function renderBadge() {
    const n = history.unseenMissed();
    badge.textContent = n > 0 ? String(n) : '';
    badge.setAttribute('aria-label', `${n} missed`);
    show(badge, n > 0);
    pill.textContent = n === 1 ? '1 missed call' : `${n} missed calls`;
    show(pill, n > 0);
    setMissedTitle(n);
  }

  // Looking at the history (tab open, page visible) counts as having seen the missed calls.
  function seeIfLooking() {
    if (!panel.hidden && document.visibilityState === 'visible') history.markSeen();
  }

  clear.addEventListener('click', () => {
    show(confirm, true);
    byId('history-clear-no').focus();
  });
  byId('history-clear-no').addEventListener('click', () => {
    show(confirm, false);
    clear.focus();
  });
  byId('history-clear-yes').addEventListener('click', () => {
    show(confirm, false);
    history.clear();
    clear.focus();
  });
  pill.addEventListener('click', () => {
    tabs.select('history', { focus: true });
    panel.scrollIntoView({ block: 'start' });
  });

  history.addEventListener('change', () => {
    render();
    seeIfLooking();
  });
  book.addEventListener('change', render);
  tabs.events.addEventListener('select', seeIfLooking);
  document.addEventListener('visibilitychange', seeIfLooking);
  render();
  seeIfLooking();
}
