// calls: placing and taking calls over the signaling contract (docs/protocol.md).
//
// One Call per call_id, each with its own RTCPeerConnection. The server is the SIP side's
// voice: it sends progress / answered / incoming / candidate / hangup / error, and this module
// turns them into call states and SDP steps:
//
//   outgoing: preparing (microphone) -> calling (offer sent) -> ringing (180/183)
//             -> early (183 with an SDP answer) -> connected (answered) -> ended
//   incoming: incoming (ringing here) -> accepting (microphone, answer) -> connected -> ended
//
// Timing rules the contract implies:
//  - the offer goes out right after setLocalDescription; ICE candidates follow one by one as
//    `candidate` messages (then `candidate: null`), so the server never waits for gathering;
//  - the server's candidates may arrive before its answer (or, for an incoming call, before
//    the user accepts): they wait in `pendingRemote` until a remote description is set;
//  - every SDP step of a call runs on one promise chain (Call.run), so a candidate or a late
//    answer can never overtake the description it depends on.
//
// Several calls at once: `current` is the one on screen (the one the user talks to); the
// others are on hold. An incoming call while in a call becomes `waiting` (call waiting):
// acceptWaiting() holds the current call first, then answers. A third call while one is
// already waiting is turned down with 486 Busy Here.
//
// Hold, resume and transfer are server-side re-INVITEs and REFERs: this module only sends
// `hold` / `resume` / `transfer` and follows the `call_state` events (held, remote_held,
// active, transferring) that report their outcome; the browser's own media never changes.
//
// Events: "change" {call} whenever any call changes; "remotestream" {call} when a call's
// remote audio appears; "busyincoming" {from, display} for a call turned down while busy.

import { getMicrophone, stopStream } from './media.js';
import { hangupWords, callErrorWords, microphoneErrorWords } from './ui/call-text.js';
import { ECHO_TARGET } from './dial-target.js';

export const CallState = Object.freeze({
  PREPARING: 'preparing',
  CALLING: 'calling',
  RINGING: 'ringing',
  EARLY: 'early',
  INCOMING: 'incoming',
  ACCEPTING: 'accepting',
  CONNECTED: 'connected',
  ENDED: 'ended',
});

const DTMF_DIGITS = /^[0-9*#A-D]{1,64}$/;
// How long a hold/resume may take before the page stops waiting (the server reports a failed
// re-INVITE itself; this only covers a server that never answers).
const HOLD_TIMEOUT_MS = 10_000;
const RECONNECTING_NOTE = 'Reconnecting to the server… the call goes on.';
// ICE failed/disconnected this long while the call is up: restart ICE (brief glitches recover).
const ICE_TROUBLE_MS = 3000;

function newCallId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `c-${Date.now().toString(36)}-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// Who forwarded an incoming call to us: the top Diversion, else the History-Info entry before
// ours (the last one); '' when it was not forwarded.
function forwardedFrom(msg) {
  if (typeof msg.diverted_from === 'string' && msg.diverted_from) return msg.diverted_from;
  const history = Array.isArray(msg.history) ? msg.history.filter((u) => typeof u === 'string') : [];
  return history.length >= 2 ? history[history.length - 2] : '';
}

export class Call {
  constructor({ id, direction, peerUri, peerName, account, target }) {
    this.id = id;
    this.direction = direction; // 'out' | 'in'
    this.peerUri = peerUri; // what was dialled, or the caller's URI
    this.peerName = peerName; // display name or a readable form of the URI
    this.account = account || ''; // outgoing: the from_account sent; incoming: the account called
    this.forwardedFrom = ''; // incoming: who forwarded it here (Diversion / History-Info)
    this.isEcho = target === ECHO_TARGET;
    this.state = direction === 'out' ? CallState.PREPARING : CallState.INCOMING;
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.remoteOffer = null; // incoming: the server's offer, applied on accept
    this.earlySdp = null; // outgoing: the early-media answer already applied
    this.remoteSet = false;
    this.pendingRemote = []; // server candidates waiting for a remote description
    this.pendingLocal = []; // our candidates gathered before the offer/answer went out
    this.announced = false; // the server knows this call (`call` sent, or `incoming` received)
    this.answerSent = false; // incoming: `accept` sent
    this.sdpSent = false; // our offer/answer went out: candidates may follow
    this.setupId = ''; // id of the `call`/`accept` request, to match its `error`
    this.note = ''; // a problem worth showing that did not end the call
    this.codec = null;
    this.encryption = null;
    this.muted = false;
    this.dtmfSent = '';
    this.createdAt = Date.now();
    this.answeredAt = 0;
    this.endedAt = 0;
    this.end = null; // {by: 'local'|'remote'|'error', code?, reason?, words}
    this.mediaState = 'new'; // RTCPeerConnection.connectionState
    this.localHold = false; // we put the far end on hold (server re-INVITE a=sendonly)
    this.remoteHold = false; // the far end put us on hold
    this.holdPending = ''; // 'hold' | 'resume' while the re-INVITE is out
    this.holdWaiters = []; // resolve(ok) of hold()/resume() promises
    this.transfer = null; // {pending: true, code, reason} while a transfer (REFER) runs
    this.reconnecting = false; // the signaling link dropped; the server keeps the call for a resume
    this.iceRestart = ''; // id of our `reoffer` while the server's `reanswer` is due
    this.iceRestarts = 0; // ICE restarts done (reanswer applied)
    this.iceTrouble = null; // timer: ICE failed/disconnected for a while -> restart ICE
    this.ops = Promise.resolve();
  }

  get ended() {
    return this.state === CallState.ENDED;
  }

  // Audio may flow (or be about to): the states in which DTMF and mute make sense.
  get live() {
    return this.state === CallState.CONNECTED || this.state === CallState.EARLY;
  }

  // Hold, resume and transfer need an answered call with a SIP far end.
  get controllable() {
    return this.state === CallState.CONNECTED && !this.isEcho && (this.direction === 'out' || this.answerSent);
  }
}

export class CallManager extends EventTarget {
  // nameOf(uri): the caller's name from the address book ('' when unknown); it wins over the
  // display name the caller's provider sends, which is often missing or a bare number.
  // session (session.js), when given, lets calls survive a dropped connection: they wait,
  // marked `reconnecting`, for the session to resume, and end if it cannot.
  constructor(signaling, { iceServers = () => [], nameOf = () => '', session = null } = {}) {
    super();
    this.signaling = signaling;
    this.session = session;
    this.iceServers = iceServers;
    this.nameOf = nameOf;
    this.calls = new Map(); // call_id -> Call, only calls that have not ended
    this.current = null; // the call on screen: the active one, or the last one that ended
    this.waiting = null; // an incoming call ringing while another call goes on

    const on = (type, fn) => signaling.addEventListener(`msg:${type}`, (ev) => fn.call(this, ev.detail));
    on('progress', this.onProgress);
    on('answered', this.onAnswered);
    on('incoming', this.onIncoming);
    on('candidate', this.onCandidate);
    on('hangup', this.onHangup);
    on('error', this.onError);
    on('call_state', this.onCallState);
    on('reanswer', this.onReanswer);
    // A lost connection: the server keeps this tab's calls for its grace period and the session
    // resumes them (the RTCPeerConnections never stopped: media usually flows on meanwhile).
    // Without a resume token (an old server, or resume off) the calls are over.
    signaling.addEventListener('close', () => {
      if (this.session && this.session.canResume()) {
        for (const call of this.calls.values()) {
          call.reconnecting = true;
          call.note = RECONNECTING_NOTE;
          this.changed(call);
        }
        return;
      }
      this.endAll('The connection to the server was lost, so the call ended.');
    });
    if (session) {
      session.addEventListener('welcome', (ev) => this.onSessionWelcome(ev.detail));
      session.addEventListener('resumefailed', () => this.endAll('The connection to the server was lost for too long, so the call ended.'));
    }
  }

  endAll(words) {
    for (const call of [...this.calls.values()]) this.finish(call, { by: 'error', words });
  }

  // After a reconnect: a resumed session lists the calls the server still has; ours that are not
  // among them ended while we were away (their hangup may follow from the server's backlog). A
  // call the server has but we dropped meanwhile (hung up while offline) is hung up now.
  onSessionWelcome(msg) {
    const live = new Set(msg.resumed === true && Array.isArray(msg.calls) ? msg.calls : []);
    for (const call of [...this.calls.values()]) {
      if (!call.reconnecting) continue;
      call.reconnecting = false;
      if (call.note === RECONNECTING_NOTE) call.note = '';
      if (live.has(call.id)) this.changed(call);
      else this.finish(call, { by: 'error', words: 'The call ended while the connection to the server was down.' });
    }
    for (const id of live) {
      if (!this.calls.has(id)) this.signaling.send({ type: 'hangup', call_id: id });
    }
  }

  // The active call's RTCPeerConnection (for tests and debugging).
  get pc() {
    return this.current && !this.current.ended ? this.current.pc : null;
  }

  get active() {
    return this.current && !this.current.ended ? this.current : null;
  }

  // Calls that go on besides the one on screen (on hold), oldest first; not the waiting one.
  others() {
    return [...this.calls.values()].filter((c) => c !== this.current && c !== this.waiting);
  }

  // Ids for call-related requests, so an `error` tells which one it answers. Letters keep them
  // apart from SignalingClient.request()'s numeric ids.
  nextRequestId(prefix) {
    this.requestSeq = (this.requestSeq || 0) + 1;
    return `${prefix}${this.requestSeq}`;
  }

  changed(call) {
    this.dispatchEvent(new CustomEvent('change', { detail: { call } }));
  }

  setState(call, state) {
    if (call.ended || call.state === state) return;
    call.state = state;
    if (state === CallState.CONNECTED && !call.answeredAt) call.answeredAt = Date.now();
    this.changed(call);
  }

  // Places a call. target: {to, label} from parseTarget; fromAccount: a configured account's
  // name, a BYO account's URI, or '' to let the server choose. Returns the Call (which may
  // already have ended, e.g. when the microphone was refused).
  async dial({ to, label }, fromAccount = '') {
    if (this.active) throw new Error('Hang up the current call first.');
    if (!this.signaling.connected) throw new Error('Not connected to the server. Try again once the status says Connected.');
    const call = new Call({ id: newCallId(), direction: 'out', peerUri: to, peerName: label, account: fromAccount, target: to });
    this.calls.set(call.id, call);
    this.current = call;
    this.changed(call);

    try {
      call.localStream = await getMicrophone();
    } catch (err) {
      this.finish(call, { by: 'error', words: microphoneErrorWords(err) });
      return call;
    }
    if (call.ended) { // hung up while the permission prompt was up
      this.cleanup(call);
      return call;
    }

    await this.run(call, async () => {
      const pc = this.makePeerConnection(call);
      for (const track of call.localStream.getTracks()) pc.addTrack(track, call.localStream);
      await pc.setLocalDescription(await pc.createOffer());
      if (call.ended) return;
      call.setupId = this.nextRequestId('s');
      const msg = { type: 'call', id: call.setupId, call_id: call.id, to, sdp: pc.localDescription.sdp };
      if (fromAccount) msg.from_account = fromAccount;
      if (!this.signaling.send(msg)) {
        this.finish(call, { by: 'error', words: 'Not connected to the server.' });
        return;
      }
      call.announced = true;
      call.sdpSent = true;
      this.flushLocalCandidates(call);
      this.setState(call, CallState.CALLING);
    });
    return call;
  }

  // Takes an incoming call: microphone, the server's offer, our answer.
  async accept(call) {
    if (!call || call.state !== CallState.INCOMING) return;
    this.setState(call, CallState.ACCEPTING);
    try {
      call.localStream = await getMicrophone();
    } catch (err) {
      // Without a microphone the call cannot be taken; tell the caller "unavailable".
      this.signaling.send({ type: 'reject', call_id: call.id, code: 480 });
      this.finish(call, { by: 'error', words: microphoneErrorWords(err) });
      return;
    }
    if (call.ended) return this.cleanup(call); // the caller gave up meanwhile

    await this.run(call, async () => {
      const pc = this.makePeerConnection(call);
      await this.applyRemote(call, 'offer', call.remoteOffer);
      for (const track of call.localStream.getTracks()) pc.addTrack(track, call.localStream);
      await pc.setLocalDescription(await pc.createAnswer());
      if (call.ended) return;
      call.setupId = this.nextRequestId('s');
      if (!this.signaling.send({ type: 'accept', id: call.setupId, call_id: call.id, sdp: pc.localDescription.sdp })) {
        this.finish(call, { by: 'error', words: 'Not connected to the server.' });
        return;
      }
      call.answerSent = true;
      call.sdpSent = true;
      this.flushLocalCandidates(call);
      this.setState(call, CallState.CONNECTED);
    });
  }

  reject(call, code = 486) {
    if (!call || call.state !== CallState.INCOMING) return;
    this.signaling.send({ type: 'reject', call_id: call.id, code });
    this.finish(call, { by: 'local', words: 'You declined the call.' });
  }

  hangup(call = this.active) {
    if (!call || call.ended) return;
    if (call.state === CallState.INCOMING) return this.reject(call);
    if (call.direction === 'in' && !call.answerSent) {
      // Still getting the microphone for an accept: to the server the call is still ringing.
      this.signaling.send({ type: 'reject', call_id: call.id, code: 486 });
    } else if (call.announced) {
      // (Before the offer went out the server has never heard of this call.)
      this.signaling.send({ type: 'hangup', call_id: call.id });
    }
    this.finish(call, { by: 'local', words: call.answeredAt ? 'You hung up.' : 'Call cancelled.' });
  }

  sendDtmf(call, digits) {
    const d = String(digits).toUpperCase();
    if (!call || !call.live || !DTMF_DIGITS.test(d)) return false;
    if (!this.signaling.send({ type: 'dtmf', id: this.nextRequestId('d'), call_id: call.id, digits: d })) return false;
    call.dtmfSent = (call.dtmfSent + d).slice(-32);
    call.note = '';
    this.changed(call);
    return true;
  }

  setMuted(call, muted) {
    if (!call || call.ended) return;
    call.muted = Boolean(muted);
    // enabled=false sends silence (the track and the RTP stream stay up), so unmuting is instant.
    if (call.localStream) for (const track of call.localStream.getAudioTracks()) track.enabled = !call.muted;
    this.changed(call);
  }

  // --- hold, resume, transfer, call waiting ------------------------------------------------

  // Puts `call` on hold (the server re-INVITEs with a=sendonly). Resolves true once the
  // server reports it held, false when that failed (call.note then says why).
  hold(call) {
    return this.changeHold(call, 'hold');
  }

  resume(call) {
    return this.changeHold(call, 'resume');
  }

  changeHold(call, op) {
    if (!call || !call.controllable) return Promise.resolve(false);
    if (call.localHold === (op === 'hold') && !call.holdPending) return Promise.resolve(true);
    const settled = new Promise((resolve) => call.holdWaiters.push(resolve));
    if (!call.holdPending) {
      if (!this.signaling.send({ type: op, id: this.nextRequestId('h'), call_id: call.id })) {
        call.note = 'Not connected to the server.';
        this.changed(call);
        return Promise.resolve(false);
      }
      call.holdPending = op;
      call.note = '';
      this.changed(call);
      const timer = setTimeout(() => {
        if (call.holdPending !== op) return;
        call.note = 'The server did not confirm the hold or resume.';
        this.settleHold(call, false);
        this.changed(call);
      }, HOLD_TIMEOUT_MS);
      settled.then(() => clearTimeout(timer));
    }
    return settled;
  }

  settleHold(call, ok) {
    call.holdPending = '';
    for (const resolve of call.holdWaiters.splice(0)) resolve(ok);
  }

  // Blind transfer to a target ({to} from parseTarget) or attended transfer to another call of
  // this tab ({replaces: otherCall}). The outcome arrives as call_state / hangup "transferred".
  transferCall(call, { to, replaces }) {
    if (!call || !call.controllable || call.transfer) return false;
    const msg = { type: 'transfer', id: this.nextRequestId('t'), call_id: call.id };
    if (replaces) msg.replaces = replaces.id;
    else msg.to = to;
    if (!this.signaling.send(msg)) return false;
    call.transfer = { pending: true, code: 0, reason: '' };
    call.note = '';
    this.changed(call);
    return true;
  }

  // Answers the waiting call: the current call goes on hold first (or is hung up when it was
  // not answered yet: there is nothing to hold).
  async acceptWaiting() {
    const call = this.waiting;
    if (!call || call.state !== CallState.INCOMING) return;
    const first = this.active;
    if (first && first !== call) {
      if (first.controllable) {
        if (!(await this.hold(first))) return; // first.note says why; the new call still rings
      } else {
        // Not answered yet, or not holdable (the echo test): end it rather than talk to two.
        this.hangup(first);
      }
    }
    if (call.ended) return;
    this.waiting = null;
    this.current = call;
    await this.accept(call);
  }

  rejectWaiting() {
    const call = this.waiting;
    if (!call) return;
    this.reject(call);
  }

  // Makes `other` (a call on hold) the call on screen: holds the current one, resumes other.
  async switchTo(other) {
    if (!other || other.ended || other === this.current) return;
    const first = this.active;
    if (first && first.controllable && !first.localHold && !(await this.hold(first))) return;
    this.current = other;
    this.changed(other);
    if (other.localHold) await this.resume(other);
  }

  // --- server messages -------------------------------------------------------------------

  onCallState(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call) return;
    if (msg.encryption && typeof msg.encryption === 'object') call.encryption = msg.encryption;
    const state = msg.state;
    if (state === 'resumed') {
      // Where the call stands after a reconnect (the server's view wins). Our address may have
      // changed with the network (that is often why the link dropped): restart ICE.
      call.reconnecting = false;
      if (call.state === CallState.CONNECTED) this.restartIce(call);
      if (typeof msg.local_hold === 'boolean') call.localHold = msg.local_hold;
      if (typeof msg.remote_hold === 'boolean') call.remoteHold = msg.remote_hold;
      if (typeof msg.codec === 'string') call.codec = msg.codec;
    } else if (state === 'held' || state === 'remote_held' || state === 'active') {
      // local_hold / remote_hold say both sides at once (held by us AND by them reads "held").
      call.localHold = typeof msg.local_hold === 'boolean' ? msg.local_hold : state === 'held';
      call.remoteHold = typeof msg.remote_hold === 'boolean' ? msg.remote_hold : state === 'remote_held';
      if (typeof msg.hold_failed === 'string' || typeof msg.resume_failed === 'string') {
        const why = msg.hold_failed ?? msg.resume_failed;
        call.note = `${msg.hold_failed !== undefined ? 'The call could not be put on hold' : 'The call could not be resumed'}${why ? `: ${why}` : '.'}`;
      }
      if (typeof msg.transfer_failed === 'string') {
        call.note = `The call was not transferred: ${msg.transfer_failed}${Number.isInteger(msg.code) && msg.code ? ` (${msg.code})` : ''}.`;
        call.transfer = null;
      }
      if (call.holdPending && (msg.id !== undefined || call.localHold === (call.holdPending === 'hold'))) {
        this.settleHold(call, call.localHold === (call.holdPending === 'hold'));
      }
    } else if (state === 'transferring') {
      call.transfer = {
        pending: true,
        code: Number.isInteger(msg.code) ? msg.code : 0,
        reason: typeof msg.reason === 'string' ? msg.reason : '',
      };
    }
    this.changed(call);
  }


  onProgress(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call || call.direction !== 'out') return;
    if (typeof msg.sdp === 'string' && msg.sdp !== '' && call.earlySdp === null) {
      // Early media (183 + SDP): the provider plays tones or announcements before the answer.
      call.earlySdp = msg.sdp;
      // A provisional answer: the final one (from the 200) may name other ports or codecs.
      this.run(call, () => this.applyRemote(call, 'pranswer', msg.sdp));
      this.setState(call, CallState.EARLY);
      return;
    }
    if ((msg.code === 180 || msg.code === 183) && call.state === CallState.CALLING) this.setState(call, CallState.RINGING);
  }

  // ICE restart (docs/protocol.md "ICE restart"): a new offer with new ICE credentials goes out
  // as `reoffer`; the server's `reanswer` carries its new ones, candidates trickle both ways.
  // DTLS and SRTP go on (same certificates), so audio resumes as soon as a new pair works.
  restartIce(call = this.active) {
    if (!call || call.ended || !call.pc || call.state !== CallState.CONNECTED || call.iceRestart) return false;
    if (call.direction === 'in' && !call.answerSent) return false;
    call.iceRestart = this.nextRequestId('r');
    this.run(call, async () => {
      const pc = call.pc;
      call.sdpSent = false; // the new generation's candidates wait for the reoffer
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      if (!this.signaling.send({ type: 'reoffer', id: call.iceRestart, call_id: call.id, sdp: pc.localDescription.sdp })) {
        call.iceRestart = '';
        await pc.setLocalDescription({ type: 'rollback' });
      }
      call.sdpSent = true;
      this.flushLocalCandidates(call);
    });
    return true;
  }

  onReanswer(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call || !call.iceRestart) return;
    const sdp = typeof msg.sdp === 'string' ? msg.sdp : '';
    this.run(call, async () => {
      if (call.pc.signalingState === 'have-local-offer') await this.applyRemote(call, 'answer', sdp);
      call.iceRestart = '';
      call.iceRestarts += 1;
      this.changed(call);
    });
  }

  // The server refused our reoffer: back to the description in use; the call goes on.
  abandonIceRestart(call) {
    call.iceRestart = '';
    this.run(call, async () => {
      if (call.pc.signalingState === 'have-local-offer') await call.pc.setLocalDescription({ type: 'rollback' });
    });
  }

  onAnswered(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call) return;
    call.codec = msg.codec ?? null;
    call.encryption = msg.encryption ?? null;
    if (call.direction !== 'out') {
      // The reply to our `accept`: no SDP, only the codec and encryption for the badge.
      this.changed(call);
      return;
    }
    const sdp = typeof msg.sdp === 'string' ? msg.sdp : '';
    this.run(call, async () => {
      if (call.earlySdp === null) {
        await this.applyRemote(call, 'answer', sdp);
        return;
      }
      // The early-media SDP was applied as a provisional answer: the 200's SDP (or, when it
      // sent none, the early one) becomes the final answer.
      const state = call.pc && call.pc.signalingState;
      if (state === 'have-local-offer' || state === 'have-remote-pranswer') await this.applyRemote(call, 'answer', sdp || call.earlySdp);
    });
    this.setState(call, CallState.CONNECTED);
  }

  onIncoming(msg) {
    if (typeof msg.call_id !== 'string' || this.calls.has(msg.call_id)) return;
    // The server sends asserted_identity only from a trusted source (docs/protocol.md): then it
    // is the caller's real number and wins over From.
    const asserted = typeof msg.asserted_identity === 'string' ? msg.asserted_identity : '';
    const from = asserted || (typeof msg.from === 'string' ? msg.from : '');
    const shown = asserted ? msg.asserted_display : msg.display; // From's name goes with From
    const display = typeof shown === 'string' ? shown.trim() : '';
    const busy = this.calls.size > 0;
    if (busy && (this.waiting || !this.active || this.active.state === CallState.INCOMING)) {
      // One waiting call is as much as anyone can deal with; more get "busy".
      this.signaling.send({ type: 'reject', call_id: msg.call_id, code: 486 });
      this.dispatchEvent(new CustomEvent('busyincoming', { detail: { from, display } }));
      return;
    }
    const call = new Call({
      id: msg.call_id, direction: 'in', peerUri: from, peerName: this.nameOf(from) || display || from.replace(/^(sips?|tel):/i, ''),
      account: typeof msg.account === 'string' ? msg.account : '',
    });
    call.remoteOffer = typeof msg.sdp === 'string' ? msg.sdp : '';
    call.forwardedFrom = forwardedFrom(msg);
    call.announced = true;
    this.calls.set(call.id, call);
    if (busy) this.waiting = call;
    else this.current = call;
    this.changed(call);
  }

  onCandidate(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call || msg.candidate === undefined) return;
    if (!call.remoteSet) {
      call.pendingRemote.push(msg.candidate);
      return;
    }
    this.run(call, () => this.addRemoteCandidate(call, msg.candidate));
  }

  onHangup(msg) {
    const call = this.calls.get(msg.call_id);
    if (!call) return;
    const code = Number.isInteger(msg.code) ? msg.code : 0;
    const reason = typeof msg.reason === 'string' ? msg.reason : '';
    const words = call.state === CallState.INCOMING && reason !== 'answered_elsewhere'
      ? `Missed call from ${call.peerName || 'an unknown caller'}.`
      : hangupWords(code, reason, { direction: call.direction, wasAnswered: Boolean(call.answeredAt) });
    this.finish(call, { by: 'remote', code, reason, words });
  }

  onError(msg) {
    const call = typeof msg.call_id === 'string' ? this.calls.get(msg.call_id) : null;
    if (!call) return;
    // A refused call/accept ends the call. A refused dtmf (or candidate) does not: the call
    // goes on and the panel says what did not work.
    const setupFailed = msg.id !== undefined ? msg.id === call.setupId : !call.answeredAt;
    if (!setupFailed) {
      const words = callErrorWords(msg.code, msg.message);
      const what = typeof msg.id === 'string' ? msg.id.charAt(0) : '';
      if (what === 'h' && call.holdPending) {
        call.note = `${call.holdPending === 'hold' ? 'The call could not be put on hold' : 'The call could not be resumed'}: ${words}`;
        this.settleHold(call, false);
      } else if (what === 'r' && msg.id === call.iceRestart) {
        console.warn('call', call.id, 'ICE restart refused:', msg.code, msg.message);
        this.abandonIceRestart(call);
        return;
      } else if (what === 't' && call.transfer) {
        call.note = `The call was not transferred: ${words}`;
        call.transfer = null;
      } else {
        call.note = what === 'd' ? `The keypad tones were not sent: ${words}` : words;
      }
      this.changed(call);
      return;
    }
    this.finish(call, { by: 'error', code: msg.code, words: callErrorWords(msg.code, msg.message) });
  }

  // --- helpers ---------------------------------------------------------------------------

  // Runs fn after every earlier SDP step of the call; a failure ends the call in words.
  run(call, fn) {
    call.ops = call.ops.then(() => (call.ended ? undefined : fn())).catch((err) => {
      if (call.ended) return;
      console.error('call', call.id, err);
      // An incoming call we could not answer (an offer the browser cannot use) is turned down
      // with 488 Not Acceptable Here; anything the server already knows as a call is hung up.
      if (call.direction === 'in' && !call.answerSent) this.signaling.send({ type: 'reject', call_id: call.id, code: 488 });
      else if (call.announced) this.signaling.send({ type: 'hangup', call_id: call.id });
      this.finish(call, { by: 'error', words: `The call could not be set up: ${err && err.message ? err.message : err}` });
    });
    return call.ops;
  }

  makePeerConnection(call) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    call.pc = pc;
    pc.addEventListener('icecandidate', (ev) => {
      const candidate = ev.candidate ? ev.candidate.toJSON() : null;
      // Chromium reports the end of gathering as an empty candidate string as well as null.
      if (candidate && candidate.candidate === '') return;
      // Candidates must not overtake the offer/answer they belong to.
      if (call.sdpSent) this.sendCandidate(call, candidate);
      else call.pendingLocal.push(candidate);
    });
    pc.addEventListener('track', (ev) => {
      // An answer without a=msid gives a track without a stream: make one for the <audio>.
      call.remoteStream = ev.streams[0] || new MediaStream([ev.track]);
      this.dispatchEvent(new CustomEvent('remotestream', { detail: { call } }));
    });
    pc.addEventListener('connectionstatechange', () => {
      call.mediaState = pc.connectionState;
      this.changed(call);
    });
    // ICE lost its path (a new network, a sleeping laptop) for longer than a brief glitch while
    // the call is up: restart ICE instead of waiting for the server's RTP timeout.
    pc.addEventListener('iceconnectionstatechange', () => {
      const bad = pc.iceConnectionState === 'failed' || pc.iceConnectionState === 'disconnected';
      if (!bad) {
        clearTimeout(call.iceTrouble);
        call.iceTrouble = null;
      } else if (!call.iceTrouble) {
        call.iceTrouble = setTimeout(() => {
          call.iceTrouble = null;
          const still = pc.iceConnectionState === 'failed' || pc.iceConnectionState === 'disconnected';
          if (still && !call.reconnecting) this.restartIce(call);
        }, ICE_TROUBLE_MS);
      }
    });
    return pc;
  }

  sendCandidate(call, candidate) {
    if (!call.ended) this.signaling.send({ type: 'candidate', call_id: call.id, candidate });
  }

  flushLocalCandidates(call) {
    for (const candidate of call.pendingLocal.splice(0)) this.sendCandidate(call, candidate);
  }

  async applyRemote(call, type, sdp) {
    if (!sdp) throw new Error(`the server sent no SDP ${type}`);
    await call.pc.setRemoteDescription({ type, sdp });
    call.remoteSet = true;
    for (const candidate of call.pendingRemote.splice(0)) await this.addRemoteCandidate(call, candidate);
  }

  async addRemoteCandidate(call, candidate) {
    try {
      if (candidate === null) {
        await call.pc.addIceCandidate(); // end of the server's candidates
      } else {
        const init = { ...candidate };
        if (init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
        await call.pc.addIceCandidate(init);
      }
    } catch (err) {
      // One unusable candidate is not worth ending the call over; ICE uses the others.
      console.warn('call', call.id, 'ignored a server ICE candidate:', err.message);
    }
  }

  finish(call, end) {
    if (call.ended) return;
    call.end = end;
    call.endedAt = Date.now();
    call.state = CallState.ENDED;
    this.calls.delete(call.id);
    this.cleanup(call);
    this.settleHold(call, false);
    if (call === this.waiting) this.waiting = null;
    // The call on screen ended while others are on hold: show the oldest of them (it stays on
    // hold until the user resumes it). A call still waiting to be answered keeps ringing.
    let next = call === this.current ? this.others()[0] : null;
    if (call === this.current && !next && this.waiting) {
      // Nothing on hold: the waiting call becomes an ordinary incoming call on screen.
      next = this.waiting;
      this.waiting = null;
    }
    this.changed(call);
    if (next) {
      this.current = next;
      if (next.state !== CallState.INCOMING) next.note = `${call.peerName || 'The other call'}: ${call.end.words}`;
      this.changed(next);
    }
  }

  cleanup(call) {
    clearTimeout(call.iceTrouble);
    stopStream(call.localStream);
    if (call.pc) call.pc.close();
  }
}
