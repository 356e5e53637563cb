// call-panel: what the phone panel shows around a call: the incoming-call screen (ringtone,
// Accept / Reject), the in-call screen (state, who, timer, codec + encryption badge, keypad,
// mute, hang up), and the line that says how the last call ended. Also plays the remote
// audio through the page's <audio> element.

import { CallState } from '../calls.js';
import { shortUri } from '../dial-target.js';
import { STATE_WORDS, codecWords, encryptionLines, formatDuration, holdWords, holdState } from './call-text.js';
import { TonePlayer } from './tones.js';
import { askForNotificationsOnFirstClick, closeIncomingCallNotification, notifyIncomingCall } from './notify.js';
import { announce } from './announce.js';
import { byId, el, show } from './dom.js';
import { setCallTitle } from './title.js';

const KEYS = [
  ['1', ''], ['2', 'ABC'], ['3', 'DEF'],
  ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
  ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'],
  ['*', ''], ['0', '+'], ['#', ''],
];

// Where typing a digit means text, not a tone.
function isTextEntry(node) {
  return node instanceof HTMLElement
    && (node.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(node.tagName));
}

export function mountCallPanel(calls, accounts) {
  const dialer = byId('dialer');
  const incoming = byId('incoming');
  const inCall = byId('in-call');
  const result = byId('call-result');
  const audio = byId('remote-audio');
  const ui = {
    incomingPeer: byId('incoming-peer'),
    incomingUri: byId('incoming-uri'),
    incomingAccount: byId('incoming-account'),
    accept: byId('incoming-accept'),
    reject: byId('incoming-reject'),
    state: byId('call-state'),
    peer: byId('call-peer'),
    peerUri: byId('call-peer-uri'),
    timer: byId('call-timer'),
    badge: byId('call-badge'),
    codec: byId('call-codec'),
    encryption: byId('call-encryption'),
    note: byId('call-note'),
    keypad: byId('keypad'),
    dtmfSent: byId('dtmf-sent'),
    mute: byId('call-mute'),
    hangup: byId('call-hangup'),
  };
  const tones = new TonePlayer();
  const keyButtons = new Map();
  let timer = null;
  let timerCall = null; // the call the timer counts (the call on screen can change)
  let shownState = null;
  let shownCall = null;

  for (const [digit, letters] of KEYS) {
    const button = el('button', {
      type: 'button', class: 'key', 'aria-label': digit === '*' ? 'star' : digit === '#' ? 'pound' : digit,
      onclick: () => calls.sendDtmf(calls.active, digit),
    }, el('span', { class: 'key-digit' }, digit), el('span', { class: 'key-letters', 'aria-hidden': 'true' }, letters));
    keyButtons.set(digit, button);
    ui.keypad.append(button);
  }

  ui.accept.addEventListener('click', () => calls.accept(calls.active));
  ui.reject.addEventListener('click', () => calls.reject(calls.active));
  ui.hangup.addEventListener('click', () => calls.hangup(calls.active));
  ui.mute.addEventListener('click', () => {
    const call = calls.active;
    if (call) calls.setMuted(call, !call.muted);
  });

  // Digits typed anywhere but a text field go to the call as tones.
  document.addEventListener('keydown', (ev) => {
    const call = calls.active;
    if (!call || !call.live || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (isTextEntry(ev.target) || !keyButtons.has(ev.key)) return;
    ev.preventDefault();
    if (calls.sendDtmf(call, ev.key)) flash(keyButtons.get(ev.key));
  });

  calls.addEventListener('remotestream', (ev) => {
    if (ev.detail.call !== calls.current) return;
    audio.srcObject = ev.detail.call.remoteStream;
    // autoplay covers the usual case; play() covers a page whose autoplay was blocked until
    // the user clicked (the click that placed or accepted the call counts).
    audio.play().catch(() => {});
  });

  calls.addEventListener('busyincoming', (ev) => {
    const who = ev.detail.display || shortUri(ev.detail.from) || 'someone';
    announce(`Missed call from ${who}: you were in a call.`);
  });

  calls.addEventListener('change', (ev) => {
    // Any call may change what sounds: the waiting call's beeps override everything else.
    playTones();
    if (ev.detail.call === calls.current) render(ev.detail.call);
  });

  askForNotificationsOnFirstClick();

  function playTones() {
    const call = calls.current;
    if (calls.waiting && calls.waiting.state === CallState.INCOMING) tones.start('waiting');
    else if (call && call.state === CallState.INCOMING) tones.start('ring');
    else if (call && call.state === CallState.RINGING) tones.start('ringback');
    else tones.stop();
    if (!(call && call.state === CallState.INCOMING)) closeIncomingCallNotification();
  }

  function accountName(key) {
    const account = accounts.list().find((a) => a.name === key || a.uri === key);
    return account ? account.displayName || account.name || shortUri(account.uri) : shortUri(key);
  }

  function render(call) {
    const state = call.state;
    const ringingHere = state === CallState.INCOMING;
    const inProgress = !call.ended && !ringingHere;
    show(incoming, ringingHere);
    show(inCall, inProgress);
    show(dialer, call.ended);

    // Sounds (playTones): our ringtone while it rings here, ringback while the far end rings
    // (until early media brings the network's own tones), beeps while a call is waiting.

    if (ringingHere) renderIncoming(call);
    if (inProgress) renderInCall(call);
    if (call.ended) renderEnded(call);

    if (state !== shownState || call !== shownCall) {
      const entering = call === shownCall ? shownState : null;
      shownState = state;
      shownCall = call;
      setCallTitle(ringingHere ? 'Incoming call' : inProgress ? STATE_WORDS[state] : '');
      if (ringingHere) {
        announce(`Incoming call from ${call.peerName || 'an unknown caller'}.`);
        notifyIncomingCall(call.peerName || shortUri(call.peerUri));
        // Put the keyboard on Accept, unless the user is typing somewhere.
        if (!isTextEntry(document.activeElement)) ui.accept.focus();
      } else if (inProgress) {
        announce(`${STATE_WORDS[state]} ${call.peerName}`);
        if (entering === null || entering === CallState.ENDED || entering === CallState.INCOMING) ui.hangup.focus();
      } else if (call.ended) {
        announce(call.end.words);
        if (inCall.contains(document.activeElement) || incoming.contains(document.activeElement)
          || document.activeElement === document.body) byId('dial-input').focus();
      }
    }
  }

  function renderIncoming(call) {
    ui.incomingPeer.textContent = call.peerName || 'Unknown caller';
    const uri = shortUri(call.peerUri);
    ui.incomingUri.textContent = uri && uri !== call.peerName ? uri : '';
    show(ui.incomingUri, ui.incomingUri.textContent !== '');
    ui.incomingAccount.textContent = [call.account ? `To ${accountName(call.account)}` : '',
      call.forwardedFrom ? `forwarded from ${shortUri(call.forwardedFrom)}` : '']
      .filter(Boolean).join(' \u00b7 ');
    show(ui.incomingAccount, ui.incomingAccount.textContent !== '');
  }

  function renderInCall(call) {
    ui.state.textContent = holdWords(call);
    ui.state.dataset.state = holdState(call);
    // The call on screen changed (switch, accept of a waiting call): play its audio.
    if (call.remoteStream && audio.srcObject !== call.remoteStream) {
      audio.srcObject = call.remoteStream;
      audio.play().catch(() => {});
    }
    ui.peer.textContent = call.isEcho ? 'Test call' : call.peerName;
    const uri = call.isEcho ? 'You should hear yourself, slightly delayed.' : shortUri(call.peerUri);
    ui.peerUri.textContent = uri !== call.peerName ? uri : '';
    show(ui.peerUri, ui.peerUri.textContent !== '');

    const codec = codecWords(call.codec);
    const legs = encryptionLines(call.encryption);
    ui.codec.textContent = codec;
    // The hidden "; " keeps the legs apart for screen readers (and in textContent).
    ui.encryption.replaceChildren(...legs.map((line, i) => el('span', { class: 'secure-leg' },
      i > 0 ? el('span', { class: 'visually-hidden' }, '; ') : null, line)));
    show(ui.badge, codec !== '' || legs.length > 0);

    // A problem that did not end the call (media path lost, keypad refused).
    let note = call.note;
    if (!note && (call.mediaState === 'failed' || call.mediaState === 'disconnected')) {
      note = call.mediaState === 'failed'
        ? 'The audio connection failed: the network between this browser and the server blocks it.'
        : 'The audio connection was interrupted. Waiting for it to come back…';
    }
    ui.note.textContent = note;
    show(ui.note, note !== '');

    ui.mute.textContent = call.muted ? 'Unmute' : 'Mute';
    ui.mute.setAttribute('aria-pressed', String(call.muted));
    ui.mute.disabled = !call.localStream;
    for (const button of keyButtons.values()) button.disabled = !call.live || call.localHold;
    ui.dtmfSent.textContent = call.dtmfSent ? `Sent: ${call.dtmfSent}` : '';
    ui.hangup.textContent = call.answeredAt ? 'Hang up' : 'Cancel';
    ui.hangup.setAttribute('aria-label', call.answeredAt ? 'Hang up' : 'Cancel call');

    if (timerCall !== call) {
      clearInterval(timer);
      timer = null;
      timerCall = call;
    }
    if (call.answeredAt && !timer) {
      const tick = () => {
        ui.timer.textContent = formatDuration(Date.now() - call.answeredAt);
      };
      tick();
      timer = setInterval(tick, 1000);
    }
    show(ui.timer, Boolean(call.answeredAt));
  }

  function renderEnded(call) {
    clearInterval(timer);
    timer = null;
    timerCall = null;
    audio.srcObject = null;
    ui.timer.textContent = '00:00';
    const duration = call.answeredAt ? ` (${formatDuration(call.endedAt - call.answeredAt)})` : '';
    const who = call.isEcho ? 'Test call' : call.peerName;
    result.replaceChildren(el('span', { class: 'call-result-peer' }, who), el('span', {}, `${call.end.words}${duration}`));
    result.dataset.by = call.end.by;
    show(result, true);
  }

  return { tones };
}

function flash(button) {
  button.classList.add('is-pressed');
  setTimeout(() => button.classList.remove('is-pressed'), 150);
}
