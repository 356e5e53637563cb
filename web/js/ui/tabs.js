// tabs: the Contacts / History / Accounts / Settings tabs beside the phone.
//
// WAI-ARIA tabs: one tab in the Tab order at a time (the selected one), Left/Right/Home/End
// move between tabs and open them, Tab then goes into the open panel. The open tab is
// remembered on this device. Emits "select" {name} (name: the part after "tab-").

import { load, save } from '../store.js';

const KEY = 'tabphone.tab.v1';

export function mountTabs(listId, fallback) {
  const list = document.getElementById(listId);
  const tabs = [...list.querySelectorAll('[role="tab"]')];
  const events = new EventTarget();
  const nameOf = (tab) => tab.id.replace(/^tab-/, '');
  let current = null;

  function select(name, { focus = false, remember = true } = {}) {
    const tab = tabs.find((t) => nameOf(t) === name) || tabs[0];
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
    if (remember) save(KEY, nameOf(tab));
    if (current !== nameOf(tab)) {
      current = nameOf(tab);
      events.dispatchEvent(new CustomEvent('select', { detail: { name: current } }));
    }
  }

  list.addEventListener('click', (ev) => {
    const tab = ev.target.closest('[role="tab"]');
    if (tab) select(nameOf(tab));
  });
  list.addEventListener('keydown', (ev) => {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    select(nameOf(tabs[(to + tabs.length) % tabs.length]), { focus: true });
  });

  select(load(KEY, fallback), { remember: false });

  return {
    events,
    select,
    get current() {
      return current;
    },
  };
}
