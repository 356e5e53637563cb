// announce: one polite live region for things a screen-reader user should hear about but
// that happen away from the focus (connection lost, an account became registered).
// Visible texts that tick every second (the reconnect countdown) are deliberately not live,
// or they would be read out every second.

import { byId } from './dom.js';

let region = null;
let clearTimer = null;

export function announce(text) {
  region = region || byId('announcer');
  // Clearing first makes the same sentence be read again if it repeats.
  region.textContent = '';
  clearTimeout(clearTimer);
  setTimeout(() => {
    region.textContent = text;
  }, 50);
  clearTimer = setTimeout(() => {
    region.textContent = '';
  }, 10_000);
}
