// status-bar: the always-visible connection status in the header.

import { State } from '../signaling.js';
import { byId } from './dom.js';
import { announce } from './announce.js';

const WORDS = {
  [State.CONNECTING]: () => 'Connecting…',
  [State.CONNECTED]: () => 'Connected',
  [State.RECONNECTING]: (s) => `Reconnecting in ${s} s`,
  [State.OFFLINE]: (s) => `Offline · retrying in ${s} s`,
};

// What a screen reader hears. Only a change between up / down / offline is announced: the
// connecting <-> reconnecting cycle of each retry and the countdown would be noise.
const MOOD = {
  [State.CONNECTING]: null,
  [State.CONNECTED]: 'up',
  [State.RECONNECTING]: 'down',
  [State.OFFLINE]: 'offline',
};
const ANNOUNCEMENTS = {
  up: 'Connected to the server.',
  down: 'Connection to the server lost. Reconnecting automatically.',
  offline: 'This device is offline. Reconnecting when the network returns.',
};

export function mountStatusBar(signaling) {
  const root = byId('status');
  const text = byId('status-text');
  const retry = byId('retry-now');
  let lastMood = null;

  retry.addEventListener('click', () => signaling.reconnectNow());

  signaling.addEventListener('state', (ev) => {
    const { state, retryInSeconds } = ev.detail;
    root.dataset.state = state;
    text.textContent = WORDS[state](retryInSeconds);
    retry.hidden = !(state === State.RECONNECTING || state === State.OFFLINE);
    const mood = MOOD[state];
    if (mood && mood !== lastMood) {
      // The first successful connect is what the page shows anyway; say nothing then.
      if (lastMood !== null || mood !== 'up') announce(ANNOUNCEMENTS[mood]);
      lastMood = mood;
    }
  });
}
