// quality: call quality numbers from RTCPeerConnection.getStats(), sampled once a second.
//
//   rttMs     remote-inbound-rtp roundTripTime: from the RTCP reports that come back for our
//             audio. On a passthrough call the server forwards the far end's reports, so it
//             spans browser <-> far end; on a transcoded call the server reports on the
//             browser's leg itself, so it spans browser <-> server.
//   jitterMs  inbound-rtp jitter of the audio we receive.
//   lossPct   packets lost / (received + lost) on the audio we receive, over the last second
//             (deltas of the cumulative counters, so an old burst does not stay on screen).
//   mos       an estimated Mean Opinion Score, 1 (bad) .. 4.5 (excellent), see estimateMos.
//
// A value is null until the browser has it (RTT needs the first receiver report, a few
// seconds into the call).

// A simplified ITU-T G.107 E-model (the common "R-factor from delay, jitter and loss" shortcut):
//   effective latency  L = RTT/2 + 2 * jitter + 10 ms   (one-way delay, jitter buffer, codec)
//   R = 93.2 - L/40               when L < 160 ms
//   R = 93.2 - (L - 120)/10       otherwise (delay hurts much more past ~160 ms)
//   R = R - 2.5 * loss%           (each percent of loss costs 2.5 R points)
//   MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R), with R clamped to 0..100.
// It ignores the codec (treated as a good wideband one) and loss burstiness: it says "good /
// poor / bad", it does not measure anyone's opinion.
export function estimateMos({ rttMs, jitterMs, lossPct }) {
  if (rttMs == null && jitterMs == null && lossPct == null) return null;
  const latency = (rttMs ?? 0) / 2 + 2 * (jitterMs ?? 0) + 10;
  let r = latency < 160 ? 93.2 - latency / 40 : 93.2 - (latency - 120) / 10;
  r -= 2.5 * (lossPct ?? 0);
  r = Math.min(100, Math.max(0, r));
  const mos = 1 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r);
  return Math.round(Math.min(4.5, Math.max(1, mos)) * 100) / 100;
}

// Words for a MOS, for the strip and for screen readers.
export function mosWords(mos) {
  if (mos == null) return '';
  if (mos >= 4.0) return 'good';
  if (mos >= 3.6) return 'fair';
  if (mos >= 3.1) return 'poor';
  return 'bad';
}

// Reads one sample; `prev` holds the counters of the previous one (updated in place).
export async function sampleStats(pc, prev) {
  const report = await pc.getStats();
  let rttMs = null;
  let jitterMs = null;
  let received = null;
  let lost = null;
  report.forEach((s) => {
    if (s.kind !== 'audio' && s.mediaType !== 'audio') return;
    if (s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') rttMs = s.roundTripTime * 1000;
    if (s.type === 'inbound-rtp') {
      if (typeof s.jitter === 'number') jitterMs = s.jitter * 1000;
      if (typeof s.packetsReceived === 'number') received = s.packetsReceived;
      if (typeof s.packetsLost === 'number') lost = Math.max(0, s.packetsLost);
    }
  });
  let lossPct = null;
  if (received !== null && lost !== null) {
    const dr = received - (prev.received ?? 0);
    const dl = lost - (prev.lost ?? 0);
    if (dr + dl > 0) lossPct = Math.max(0, Math.min(100, (100 * dl) / (dr + dl)));
    else if (prev.received != null) lossPct = 0;
    prev.received = received;
    prev.lost = lost;
  }
  const sample = { at: Date.now(), rttMs, jitterMs, lossPct };
  // No packets at all yet: nothing to judge.
  sample.mos = received ? estimateMos(sample) : null;
  return sample;
}

// Samples a call's connection every second while it lasts; "sample" events carry
// {call, sample, samples} (samples: the last 30, oldest first).
export class QualityMonitor extends EventTarget {
  constructor(calls, { intervalMs = 1000, keep = 30 } = {}) {
    super();
    this.calls = calls;
    this.intervalMs = intervalMs;
    this.keep = keep;
    this.timer = null;
    this.call = null;
    this.samples = [];
    this.prev = {};
    calls.addEventListener('change', (ev) => this.follow(ev.detail.call));
  }

  follow(call) {
    const wanted = call && !call.ended && call.pc && (call.state === 'connected' || call.state === 'early');
    if (wanted && this.call !== call) this.start(call);
    if (!wanted && this.call === call) this.stop();
  }

  start(call) {
    this.stop();
    this.call = call;
    this.samples = [];
    this.prev = {};
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.call = null;
  }

  async tick() {
    const call = this.call;
    if (!call || !call.pc || call.pc.connectionState === 'closed') return;
    let sample;
    try {
      sample = await sampleStats(call.pc, this.prev);
    } catch {
      return; // the connection closed between the check and getStats()
    }
    if (this.call !== call) return;
    this.samples = [...this.samples, sample].slice(-this.keep);
    this.dispatchEvent(new CustomEvent('sample', { detail: { call, sample, samples: this.samples } }));
  }
}
