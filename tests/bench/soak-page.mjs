// The browser half of the soak (tests/bench/soak.mjs): installed into one headless Chromium page
// with page.evaluate(installSoak). Everything here runs in the page.
//
// window.soak holds any number of signaling sessions (one WebSocket each, like one tab) and the
// calls on them. Every call is a real RTCPeerConnection sharing the page's one fake-microphone
// track, so one renderer process carries all calls (the machine may have 2 cores). Failures are
// recorded with a reason that carries no call id, so equal causes add up in the report.
export function installSoak() {
  const S = { sessions: new Map() };
  window.soak = S;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const timeout = (ms, why) => new Promise((_, reject) => setTimeout(() => reject(new Error(why)), ms));

  S.init = async () => {
    // No audio processing: the tone must come back at the level it left.
    S.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    S.track = S.stream.getAudioTracks()[0];
    S.ctx = new AudioContext();
  };

  // Opens a session and waits for `welcome` (open mode: no login).
  S.open = (name, url) => new Promise((resolve, reject) => {
    const sess = { name, ws: new WebSocket(url), calls: new Map(), stray: 0, closed: null };
    S.sessions.set(name, sess);
    sess.send = (m) => { if (sess.ws.readyState === 1) sess.ws.send(JSON.stringify(m)); };
    sess.ws.onerror = () => reject(new Error(`session ${name}: websocket error`));
    sess.ws.onclose = (e) => { sess.closed = `${e.code} ${e.reason}`; clearInterval(sess.pinger); };
    sess.ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'welcome') {
        // The server closes a silent session after session_idle_timeout: ping like the dialer.
        sess.pinger = setInterval(() => sess.send({ type: 'ping' }), 20000);
        resolve();
        return;
      }
      if (m.type === 'ping') { sess.send({ type: 'pong', id: m.id }); return; }
      if (m.type === 'pong') return;
      const c = m.call_id !== undefined ? sess.calls.get(m.call_id) : undefined;
      if (c) c.onMessage(m);
      else sess.stray++;
    };
  });

  // Places a call; resolves with the call once ICE + DTLS are connected, rejects with a reason.
  // The call stays in sess.calls either way: S.hangup cleans up whatever state it reached.
  const startCall = async (sess, id, to, listen) => {
    const c = { id, pending: [], remoteSet: false, ended: null, hangupSent: false };
    sess.calls.set(id, c);
    let gotAnswer, endEarly, confirm;
    const answered = new Promise((r) => { gotAnswer = r; });
    const early = new Promise((_, reject) => { endEarly = reject; });
    early.catch(() => {});
    c.confirmed = new Promise((r) => { confirm = r; });
    c.onMessage = (m) => {
      if (m.type === 'candidate') {
        if (!c.remoteSet) c.pending.push(m.candidate);
        else if (m.candidate) c.pc.addIceCandidate(m.candidate).catch(() => {});
      } else if (m.type === 'answered') {
        gotAnswer(m);
      } else if (m.type === 'hangup' || m.type === 'error') {
        // After our own hangup the server confirms with a hangup (or unknown_call if it had
        // already ended the call): that is the end we wanted, not a failure.
        if (c.hangupSent) { confirm(m); return; }
        c.ended = c.ended || `server sent ${m.type} ${m.code ?? ''} ${m.reason ?? m.message ?? ''}`.replace(/\s+/g, ' ').trim();
        endEarly(new Error(c.ended));
        confirm(m);
      }
    };
    c.pc = new RTCPeerConnection();
    c.pc.addTrack(S.track, S.stream);
    c.remote = new MediaStream();
    c.pc.ontrack = (e) => c.remote.addTrack(e.track);
    c.pc.onicecandidate = (e) => {
      if (!c.ended && !c.hangupSent) sess.send({ type: 'candidate', call_id: id, candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    const t0 = performance.now();
    const offer = await c.pc.createOffer();
    await c.pc.setLocalDescription(offer);
    sess.send({ type: 'call', call_id: id, to, sdp: offer.sdp });
    const answer = await Promise.race([answered, early, timeout(20000, 'no answered within 20 s')]);
    c.codec = answer.codec;
    await c.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    c.remoteSet = true;
    for (const cand of c.pending) if (cand) await c.pc.addIceCandidate(cand).catch(() => {});
    c.pending = [];
    await Promise.race([
      new Promise((resolve, reject) => {
        const check = () => {
          if (c.pc.connectionState === 'connected') resolve();
          else if (c.pc.connectionState === 'failed') reject(new Error('peer connection failed (ICE/DTLS)'));
        };
        c.pc.onconnectionstatechange = check;
        check();
      }),
      early,
      timeout(20000, 'ICE/DTLS not connected within 20 s of answered'),
    ]);
    c.setupMs = performance.now() - t0;
    if (listen) {
      // Remote audio reaches WebAudio only while it also plays in a media element (never
      // muted: that zeroes the output; the browser runs with --mute-audio instead).
      c.audio = new Audio();
      c.audio.srcObject = c.remote;
      c.audio.play().catch(() => {});
      c.analyser = S.ctx.createAnalyser();
      c.analyser.fftSize = 8192;
      S.ctx.createMediaStreamSource(c.remote).connect(c.analyser);
      if (S.ctx.state !== 'running') await S.ctx.resume().catch(() => {});
    }
    return c;
  };

  // Ends a call from the tab and waits for the server's confirmation. Returns false when the
  // server did not confirm within 5 s (a call possibly stuck on the server).
  const hangup = async (sess, c) => {
    let confirmed = true;
    if (!c.ended) {
      c.hangupSent = true;
      sess.send({ type: 'hangup', call_id: c.id });
      confirmed = await Promise.race([c.confirmed.then(() => true), sleep(5000).then(() => false)]);
    }
    c.pc.close();
    if (c.audio) c.audio.srcObject = null;
    sess.calls.delete(c.id);
    return confirmed;
  };

  const rtpStats = async (c) => {
    const s = { received: 0, lost: 0, sent: 0 };
    (await c.pc.getStats()).forEach((r) => {
      if (r.kind !== 'audio') return;
      if (r.type === 'inbound-rtp') { s.received += r.packetsReceived || 0; s.lost += r.packetsLost || 0; }
      if (r.type === 'outbound-rtp') s.sent += r.packetsSent || 0;
    });
    return s;
  };

  const count = (map, key) => { map[key] = (map[key] || 0) + 1; };

  // Sets up the held calls, at most `parallel` setups at a time.
  S.holdStart = async (name, ids, to, parallel, listenIds) => {
    const sess = S.sessions.get(name);
    const out = { up: [], reasons: {}, setupMs: [] };
    const queue = [...ids];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          const c = await startCall(sess, id, to, listenIds.includes(id));
          out.up.push(id);
          out.setupMs.push(c.setupMs);
          c.last = await rtpStats(c);
        } catch (err) {
          count(out.reasons, `hold setup: ${err.message}`);
          const c = sess.calls.get(id);
          if (c) await hangup(sess, c);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
    return out;
  };

  // One look at every held call: still connected, and did media arrive since the last look?
  S.holdCheck = async (name) => {
    const sess = S.sessions.get(name);
    const out = { live: 0, ended: [], disconnected: [], silent: [], received: 0, lost: 0, sent: 0 };
    for (const c of sess.calls.values()) {
      if (c.ended) { out.ended.push(`${c.id}: ${c.ended}`); continue; }
      if (c.pc.connectionState !== 'connected') { out.disconnected.push(`${c.id}: ${c.pc.connectionState}`); continue; }
      const s = await rtpStats(c);
      const rx = s.received - c.last.received;
      out.received += rx;
      out.lost += s.lost - c.last.lost;
      out.sent += s.sent - c.last.sent;
      if (rx === 0) out.silent.push(c.id);
      c.last = s;
      out.live++;
    }
    return out;
  };

  // The loudest bin of each listening call's remote audio.
  S.tones = (name) => {
    const sess = S.sessions.get(name);
    const out = [];
    for (const c of sess.calls.values()) {
      if (!c.analyser) continue;
      const bins = new Float32Array(c.analyser.frequencyBinCount);
      c.analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      out.push({ id: c.id, hz: (best * S.ctx.sampleRate) / c.analyser.fftSize, db: bins[best] });
    }
    return out;
  };

  // Hangs up every call of a session; returns how many hangups the server did not confirm.
  S.hangupAll = async (name) => {
    const sess = S.sessions.get(name);
    const results = await Promise.all([...sess.calls.values()].map((c) => hangup(sess, c)));
    return results.filter((ok) => !ok).length;
  };

  // The churn loop: `total` short calls, `parallel` at a time, each with mediaMs of media
  // checked by packet counts, then hung up. Progress is readable while it runs (S.churnState).
  S.churn = async (name, { total, parallel, mediaMs, to, prefix }) => {
    const sess = S.sessions.get(name);
    const p = { started: 0, ok: 0, failed: 0, reasons: {}, setupMs: [], received: 0, lost: 0,
      unconfirmed: 0, done: false };
    S.churnState = p;
    let next = 0;
    const minPackets = Math.floor((mediaMs / 20) * 0.5); // half of 20 ms packets expected
    const worker = async () => {
      while (next < total) {
        const id = `${prefix}${++next}`;
        p.started++;
        try {
          const c = await startCall(sess, id, to, false);
          p.setupMs.push(c.setupMs);
          const s0 = await rtpStats(c);
          await sleep(mediaMs);
          if (c.ended) throw new Error(`ended during media: ${c.ended}`);
          if (c.pc.connectionState !== 'connected') throw new Error(`peer connection ${c.pc.connectionState} during media`);
          const s1 = await rtpStats(c);
          const rx = s1.received - s0.received;
          p.received += rx;
          p.lost += s1.lost - s0.lost;
          if (rx < minPackets) throw new Error(`too little media (under ${minPackets} packets in ${mediaMs} ms)`);
          p.ok++;
        } catch (err) {
          p.failed++;
          count(p.reasons, `churn: ${err.message}`);
        } finally {
          const c = sess.calls.get(id);
          if (c && !(await hangup(sess, c))) p.unconfirmed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, total) }, worker));
    p.done = true;
    return p;
  };

  S.closeAll = async () => {
    for (const sess of S.sessions.values()) {
      sess.ws.close(1000, 'soak done');
      clearInterval(sess.pinger);
    }
    for (let i = 0; i < 50 && [...S.sessions.values()].some((s) => s.ws.readyState !== 3); i++) await sleep(100);
    return [...S.sessions.values()].map((s) => ({ name: s.name, stray: s.stray, closed: s.closed }));
  };
}
