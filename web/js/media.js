// media: the microphone, and a tone meter over any audio stream.
//
// getMicrophone() asks with the browser's voice processing on (echo cancellation matters on
// laptop speakers). `?rawaudio=1` in the page URL turns echo cancellation, noise suppression
// and automatic gain off: a test tone then passes unchanged (with processing on, its level
// drops about 8x, and the echo canceller may remove a tone that comes straight back).

export function rawAudioRequested(loc = window.location) {
  return new URLSearchParams(loc.search).get('rawaudio') === '1';
}

// extra: more audio constraints, e.g. {deviceId} for the microphone chosen in Settings.
export function audioConstraints(raw = rawAudioRequested(), extra = {}) {
  const processing = !raw;
  return {
    audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing, ...extra },
    video: false,
  };
}

// Which microphone getMicrophone() asks for ({deviceId: {exact}} or {}): set once by main.js
// from the device choice, so calls.js does not need to know about settings.
let micPreference = () => ({});
export function setMicPreference(fn) {
  micPreference = fn;
}

// Resolves with a MediaStream holding one audio track; rejects with a DOMException whose
// name ui/call-text.js turns into words. An insecure page has no mediaDevices at all.
export async function getMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new DOMException('no mediaDevices on this page', window.isSecureContext ? 'NotFoundError' : 'SecurityError');
  }
  const pref = micPreference();
  const id = pref.deviceId && pref.deviceId.exact;
  if (!id) return navigator.mediaDevices.getUserMedia(audioConstraints());
  // The chosen microphone exactly (Chromium treats a bare deviceId as a mere hint and may
  // keep the default); if it is gone (unplugged: OverconstrainedError), the default instead.
  try {
    return await navigator.mediaDevices.getUserMedia(audioConstraints(rawAudioRequested(), { deviceId: { exact: id } }));
  } catch (err) {
    if (err && (err.name === 'OverconstrainedError' || err.name === 'NotFoundError')) {
      return navigator.mediaDevices.getUserMedia(audioConstraints());
    }
    throw err;
  }
}

export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Listens to `stream` for `ms` milliseconds through an AnalyserNode (fftSize 8192) and returns
// the strongest frequency of the averaged spectrum: {frequency (Hz, bin centre), level (dB)}.
// Used by tests (window.tabphone.measureRemoteTone) and handy for a mic check. Bins under
// 50 Hz are skipped (DC and rumble). Silence reads level -200.
export async function measureTone(stream, ms = 1000) {
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    const db = new Float32Array(analyser.frequencyBinCount);
    const power = new Float64Array(analyser.frequencyBinCount);
    let frames = 0;
    const end = performance.now() + ms;
    // Every 50 ms: overlapping windows (8192 samples = 170 ms), averaged as power.
    while (performance.now() < end) {
      await sleep(50);
      analyser.getFloatFrequencyData(db);
      for (let i = 0; i < db.length; i++) if (Number.isFinite(db[i])) power[i] += 10 ** (db[i] / 10);
      frames++;
    }
    source.disconnect();
    const binHz = ctx.sampleRate / analyser.fftSize;
    let peak = Math.ceil(50 / binHz);
    for (let i = peak + 1; i < power.length; i++) if (power[i] > power[peak]) peak = i;
    const mean = frames > 0 ? power[peak] / frames : 0;
    const level = mean > 0 ? 10 * Math.log10(mean) : -200;
    return { frequency: peak * binHz, level: Math.max(level, -200) };
  } finally {
    ctx.close();
  }
}
