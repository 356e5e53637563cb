// call-controls: the in-call controls that involve more than one call or the server's SIP
// side: Hold / Resume, Transfer (blind to a typed target, attended to another call of this
// tab), the call-waiting banner (Accept holds the current call first) and the list of calls
// on hold with a "Switch" button. call-panel.js draws the rest of the in-call screen.

import { CallState } from '../calls.js';
import { parseTarget, shortUri } from '../dial-target.js';
import { holdWords } from './call-text.js';
import { announce } from './announce.js';
import { byId, el, show } from './dom.js';

export function mountCallControls(calls) {
  const ui = {
    hold: byId('call-hold'),
    transfer: byId('call-transfer'),
    form: byId('transfer-form'),
    to: byId('transfer-to'),
    attended: byId('transfer-attended'),
    attendedList: byId('transfer-calls'),
    error: byId('transfer-error'),
    cancel: byId('transfer-cancel'),
    others: byId('other-calls'),
    waiting: byId('call-waiting'),
    waitingPeer: byId('waiting-peer'),
    waitingUri: byId('waiting-uri'),
    waitingHint: byId('waiting-hint'),
    waitingAccept: byId('waiting-accept'),
    waitingReject: byId('waiting-reject'),
  };
  let announcedWaiting = null;

  const nameOf = (call) => (call.isEcho ? 'Test call' : call.peerName || shortUri(call.peerUri) || 'Unknown caller');

  function showError(text) {
    ui.error.textContent = text;
    show(ui.error, text !== '');
  }

  function closeForm(focusButton = false) {
    show(ui.form, false);
    ui.transfer.setAttribute('aria-expanded', 'false');
    showError('');
    if (focusButton && !ui.transfer.hidden) ui.transfer.focus();
  }

  ui.hold.addEventListener('click', () => {
    const call = calls.active;
    if (!call) return;
    if (call.localHold) calls.resume(call);
    else calls.hold(call);
  });

  ui.transfer.addEventListener('click', () => {
    const open = ui.form.hidden;
    if (!open) return closeForm(true);
    show(ui.form, true);
    ui.transfer.setAttribute('aria-expanded', 'true');
    render();
    ui.to.focus();
  });
  ui.cancel.addEventListener('click', () => closeForm(true));
  ui.to.addEventListener('input', () => showError(''));

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const call = calls.active;
    const target = parseTarget(ui.to.value);
    if (!target) {
      showError(ui.to.value.trim() === ''
        ? 'Enter the number or SIP address to transfer the call to.'
        : 'That is not a number or SIP address. Try +14155550100 or sip:carol@example.com.');
      ui.to.focus();
      return;
    }
    if (calls.transferCall(call, { to: target.to })) {
      ui.to.value = '';
      closeForm(true);
    } else {
      showError('The call cannot be transferred right now.');
    }
  });

  ui.waitingAccept.addEventListener('click', () => calls.acceptWaiting());
  ui.waitingReject.addEventListener('click', () => calls.rejectWaiting());

  calls.addEventListener('change', render);

  function render() {
    const call = calls.active;
    const controllable = Boolean(call && call.controllable);

    // Hold / Resume: pressed while we hold the call; busy while the re-INVITE is out.
    show(ui.hold, controllable);
    if (call) {
      ui.hold.textContent = call.holdPending === 'hold' ? 'Holding…'
        : call.holdPending === 'resume' ? 'Resuming…'
          : call.localHold ? 'Resume' : 'Hold';
      ui.hold.setAttribute('aria-pressed', String(call.localHold));
      ui.hold.disabled = Boolean(call.holdPending || call.transfer);
    }

    show(ui.transfer, controllable);
    ui.transfer.disabled = !controllable || Boolean(call.transfer || call.holdPending);
    if (!controllable || call.transfer) closeForm();

    // Attended transfer: every other connected call of this tab is a candidate.
    const partners = calls.others().filter((c) => c.controllable && !c.transfer);
    ui.attendedList.replaceChildren(...partners.map((other) => el('li', {},
      el('button', {
        type: 'button',
        class: 'btn',
        onclick: () => {
          if (calls.transferCall(calls.active, { replaces: other })) closeForm(true);
          else showError('The call cannot be transferred right now.');
        },
      }, `Connect with ${nameOf(other)}`))));
    show(ui.attended, partners.length > 0);

    renderOthers();
    renderWaiting();
  }

  function renderOthers() {
    const others = calls.others();
    ui.others.replaceChildren(...others.map((other) => el('li', { class: 'other-call' },
      el('span', { class: 'other-call-peer' }, nameOf(other)),
      el('span', { class: 'other-call-state' }, holdWords(other)),
      el('button', {
        type: 'button',
        class: 'btn',
        'aria-label': `Switch to ${nameOf(other)}`,
        disabled: Boolean(other.holdPending || other.transfer || (calls.active && calls.active.holdPending)),
        onclick: () => calls.switchTo(other),
      }, 'Switch'))));
    show(ui.others, others.length > 0);
  }

  function renderWaiting() {
    const call = calls.waiting;
    const ringing = Boolean(call && call.state === CallState.INCOMING);
    show(ui.waiting, ringing);
    if (!ringing) {
      announcedWaiting = null;
      return;
    }
    ui.waitingPeer.textContent = nameOf(call);
    const uri = shortUri(call.peerUri);
    ui.waitingUri.textContent = uri && uri !== ui.waitingPeer.textContent ? uri : '';
    show(ui.waitingUri, ui.waitingUri.textContent !== '');
    const current = calls.active;
    ui.waitingHint.textContent = current && current.controllable
      ? `Accepting puts ${nameOf(current)} on hold.`
      : current ? `Accepting ends the call with ${nameOf(current)}.` : '';
    const busy = Boolean(current && current.holdPending);
    ui.waitingAccept.disabled = busy;
    if (announcedWaiting !== call) {
      announcedWaiting = call;
      announce(`Call waiting: ${nameOf(call)}.`);
    }
  }

  render();
}
