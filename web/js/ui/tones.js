// tones: the ringtone of an incoming call and the ringback of an outgoing one, synthesised
// with WebAudio oscillators (no audio file to ship or to allow in the CSP).
//
//   ring:     400 + 450 Hz, twice 0.4 s with 0.2 s between, then 2 s quiet (a familiar
//             "ring-ring" cadence that stands out from speech)
//   ringback: 425 Hz, 1 s on, 4 s off (what most of Europe hears while the far end rings)
//   waiting:  440 Hz, two 0.2 s beeps every 5 s (a second call while in a call)
//
// Each cadence is scheduled on the AudioContext clock one cycle ahead, so timer jitter in a
// background tab does not chop it up. `playing` names what is on (tests read it).

const PATTERNS = {
  ring: { freqs: [400, 450], gain: 0.12, cycle: 3.0, bursts: [[0, 0.4], [0.6, 1.0]] },
  ringback: { freqs: [425], gain: 0.08, cycle: 5.0, bursts: [[0, 1.0]] },
  // Call waiting: two short beeps every 5 s, quiet enough to talk over.
  waiting: { freqs: [440], gain: 0.06, cycle: 5.0, bursts: [[0, 0.2], [0.4, 0.6]] },
};

export class TonePlayer {
  constructor() {
    this.ctx = null;
    this.playing = null; // 'ring' | 'ringback' | 'waiting' | null
    this.nodes = [];
    this.timer = null;
    this.sinkId = '';
  }

  // Plays the tones on the speaker chosen in Settings, where AudioContext.setSinkId exists
  // (Chromium 110+); elsewhere they use the default output.
  setSink(id) {
    this.sinkId = id || '';
    if (this.ctx && typeof this.ctx.setSinkId === 'function') this.ctx.setSinkId(this.sinkId).catch(() => {});
  }

  start(name) {
    if (this.playing === name) return;
    this.stop();
    const pattern = PATTERNS[name];
    try {
      if (!this.ctx) {
        this.ctx = new AudioContext();
        if (this.sinkId) this.setSink(this.sinkId);
      }
    } catch {
      return; // no WebAudio: calls still work, silently
    }
    const ctx = this.ctx;
    // Without a user gesture on the page the context may start suspended; resume() then fails
    // quietly and the visual ringing is all the user gets.
    ctx.resume().catch(() => {});
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const oscillators = pattern.freqs.map((f) => {
      const osc = ctx.createOscillator();
      osc.frequency.value = f;
      osc.connect(gain);
      osc.start();
      return osc;
    });
    this.nodes = [gain, ...oscillators];
    this.playing = name;

    let cycleStart = ctx.currentTime + 0.05;
    const schedule = () => {
      // Short ramps instead of hard switches: no clicks.
      for (const [on, off] of pattern.bursts) {
        gain.gain.setTargetAtTime(pattern.gain / pattern.freqs.length, cycleStart + on, 0.01);
        gain.gain.setTargetAtTime(0, cycleStart + off, 0.01);
      }
      cycleStart += pattern.cycle;
    };
    schedule();
    schedule();
    this.timer = setInterval(schedule, pattern.cycle * 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    for (const node of this.nodes) {
      if (node.stop) node.stop();
      node.disconnect();
    }
    this.nodes = [];
    this.playing = null;
    // Suspended, an idle context costs nothing and does not keep the audio device open.
    if (this.ctx && this.ctx.state === 'running') this.ctx.suspend().catch(() => {});
  }
}
