// settings-panel: microphone and speaker choice with a level meter, and the button that makes
// tabphone the handler of sip: and tel: links.
//
// The meter runs only while "Test microphone" is on (and stops when the Settings tab closes):
// an open microphone shows the browser's recording indicator, which should mean something.

import { byId, el, show } from './dom.js';
import { sinkSupported } from '../devices.js';
import { getMicrophone, stopStream } from '../media.js';
import { microphoneErrorWords } from './call-text.js';
import { protocolHandlerSupport, registerHandlers } from '../links.js';

export function mountSettingsPanel(devices, { remoteAudio, tones, tabs }) {
  const mic = byId('mic-select');
  const speaker = byId('speaker-select');
  const speakerField = byId('speaker-field');
  const speakerUnsupported = byId('speaker-unsupported');
  const hint = byId('devices-hint');
  const meter = byId('mic-meter');
  const testButton = byId('mic-test');
  const error = byId('devices-error');
  const linksButton = byId('register-links');
  const linksStatus = byId('links-status');
  let test = null; // {stream, ctx, timer} while the meter runs

  const canSink = sinkSupported();
  show(speakerField, canSink);
  show(speakerUnsupported, !canSink);

  function showError(text) {
    error.textContent = text;
    show(error, text !== '');
  }

  function options(select, devicesOfKind, chosen, noun) {
    const opts = [el('option', { value: '' }, `System default ${noun}`)];
    devicesOfKind.forEach((d, i) => {
      // "default" / "communications" are Chromium's aliases of other entries: the first option
      // already stands for the default.
      if (d.deviceId === 'default' || d.deviceId === 'communications' || d.deviceId === '') return;
      opts.push(el('option', { value: d.deviceId }, d.label || `${noun[0].toUpperCase()}${noun.slice(1)} ${i + 1}`));
    });
    // A remembered device that is not plugged in stays listed, so the choice is not lost.
    if (chosen && !opts.some((o) => o.value === chosen)) opts.push(el('option', { value: chosen }, `Not connected: your chosen ${noun}`));
    select.replaceChildren(...opts);
    select.value = chosen;
  }

  function render() {
    options(mic, devices.inputs, devices.micId, 'microphone');
    options(speaker, devices.outputs, devices.speakerId, 'speaker');
    show(hint, !devices.labelled);
  }

  async function startTest() {
    stopTest();
    showError('');
    let stream;
    try {
      // The same request a call makes: the chosen microphone, the same voice processing.
      stream = await getMicrophone();
    } catch (err) {
      showError(microphoneErrorWords(err));
      return;
    }
    const ctx = new AudioContext();
    ctx.resume().catch(() => {});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    // RMS of the last window, shown on a square-root scale so quiet speech still moves it.
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length);
      meter.value = Math.min(1, Math.sqrt(rms * 2));
      meter.textContent = `${Math.round(meter.value * 100)} %`;
    }, 100);
    test = { stream, ctx, timer };
    testButton.textContent = 'Stop microphone test';
    testButton.setAttribute('aria-pressed', 'true');
    // With permission granted the device names are now readable.
    devices.refresh().catch(() => {});
  }

  function stopTest() {
    if (!test) return;
    clearInterval(test.timer);
    stopStream(test.stream);
    test.ctx.close().catch(() => {});
    test = null;
    meter.value = 0;
    meter.textContent = 'silent';
    testButton.textContent = 'Test microphone';
    testButton.setAttribute('aria-pressed', 'false');
  }

  testButton.addEventListener('click', () => (test ? stopTest() : startTest()));
  mic.addEventListener('change', () => {
    devices.setMic(mic.value);
    if (test) startTest(); // hear the newly chosen one
  });
  speaker.addEventListener('change', async () => {
    devices.setSpeaker(speaker.value);
    const ok = await devices.applySink(remoteAudio);
    if (tones && tones.setSink) tones.setSink(devices.speakerId);
    showError(ok ? '' : 'That speaker could not be used; calls play on the default output.');
  });
  tabs.events.addEventListener('select', (ev) => {
    if (ev.detail.name === 'settings') devices.refresh().catch(() => {});
    else stopTest();
  });

  const support = protocolHandlerSupport();
  if (!support.ok) {
    linksButton.disabled = true;
    linksStatus.textContent = support.why;
  }
  linksButton.addEventListener('click', () => {
    try {
      const schemes = registerHandlers();
      linksStatus.textContent = `Asked the browser to open ${schemes.map((s) => `${s}:`).join(' and ')} links here. `
        + 'If it asked you, and you allowed it, clicking such a link now opens tabphone with the call ready.';
    } catch (err) {
      linksStatus.textContent = err.message;
    }
  });

  devices.addEventListener('change', render);
  render();
  devices.refresh().catch(() => {});
}
