// history: the call log. One entry per call that reached the server (or rang here), written
// when the call ends:
//
//   {id, kind: 'outgoing' | 'incoming' | 'missed', peerUri, peerName, at (start, ms),
//    durationMs (0 when never connected), reason (how it ended, in words), echo}
//
//   outgoing: every call placed from here, answered or not ("no answer", "busy" is the reason)
//   incoming: a call that rang here and was answered, or declined by you
//   missed:   a call that rang here and stopped before anyone answered (the caller gave up, or it
//             came in while you were in another call and was turned down as busy)
// A call answered in another tab ("answered_elsewhere") is not missed and is not logged here.
//
// "Missed since last viewed": markSeen() stores the time the user last looked at the history;
// unseenMissed() counts missed entries after it (the badge). Kept in localStorage (store.js),
// newest first, at most MAX entries.

import { load, save, onExternalChange } from './store.js';
import { hangupWords } from './ui/call-text.js';

const KEY = 'tabphone.history.v1';
const SEEN_KEY = 'tabphone.history.seen.v1';
const MAX = 500;

export class CallHistory extends EventTarget {
  constructor(calls) {
    super();
    this.entries = this.read();
    this.seenAt = Number(load(SEEN_KEY, 0)) || 0;
    const reload = () => {
      this.entries = this.read();
      this.seenAt = Number(load(SEEN_KEY, 0)) || 0;
      this.changed();
    };
    onExternalChange(KEY, reload);
    onExternalChange(SEEN_KEY, reload);

    calls.addEventListener('change', (ev) => {
      const { call } = ev.detail;
      if (call.ended && !call.logged) {
        call.logged = true;
        this.recordCall(call);
      }
    });
    calls.addEventListener('busyincoming', (ev) => {
      const { from, display } = ev.detail;
      this.add({
        kind: 'missed', peerUri: from, peerName: display, at: Date.now(), durationMs: 0,
        reason: 'You were in another call, so it was turned down as busy.',
      });
    });
  }

  read() {
    const list = load(KEY, []);
    return Array.isArray(list) ? list.filter((e) => e && typeof e.kind === 'string' && Number.isFinite(e.at)) : [];
  }

  changed() {
    this.dispatchEvent(new CustomEvent('change'));
  }

  recordCall(call) {
    const end = call.end || {};
    if (call.direction === 'in' && end.reason === 'answered_elsewhere') return;
    // A call that never got past our own microphone check never reached anyone.
    if (call.direction === 'out' && !call.announced) return;
    const answered = Boolean(call.answeredAt);
    let kind = call.direction === 'out' ? 'outgoing' : 'incoming';
    let reason = end.words || '';
    if (call.direction === 'in' && !answered && end.by === 'remote') {
      kind = 'missed';
      reason = hangupWords(end.code || 0, end.reason || '', { direction: 'in', wasAnswered: false });
    }
    this.add({
      kind,
      peerUri: call.isEcho ? 'echo' : call.peerUri,
      peerName: call.isEcho ? 'Test call' : call.peerName,
      at: call.createdAt,
      durationMs: answered ? Math.max(0, call.endedAt - call.answeredAt) : 0,
      reason,
      echo: call.isEcho,
    });
  }

  add(fields) {
    // loggedAt (when it ended) decides "since last viewed": a call can start ringing before
    // the user last looked and still be missed after.
    const entry = { id: `${fields.at.toString(36)}-${Math.random().toString(36).slice(2, 8)}`, loggedAt: Date.now(), ...fields };
    this.entries = [entry, ...this.entries].slice(0, MAX);
    save(KEY, this.entries);
    this.changed();
  }

  list() {
    return this.entries;
  }

  clear() {
    this.entries = [];
    save(KEY, []);
    this.seenAt = Date.now();
    save(SEEN_KEY, this.seenAt);
    this.changed();
  }

  unseenMissed() {
    return this.entries.filter((e) => e.kind === 'missed' && (e.loggedAt || e.at) > this.seenAt).length;
  }

  markSeen() {
    const hadUnseen = this.unseenMissed() > 0;
    this.seenAt = Date.now();
    save(SEEN_KEY, this.seenAt);
    if (hadUnseen) this.changed();
  }
}
