// devices: which microphone and speaker calls use, remembered on this device.
//
// The choice is a deviceId from enumerateDevices(), kept in localStorage. A deviceId is only
// stable for this origin and profile, and a device may be unplugged: a missing one falls back to the
// default instead of failing the call (media.js asks for it exactly, then falls back). The speaker goes through HTMLMediaElement.setSinkId,
// which not every browser has (Firefox hides it behind a flag, Safari lacks it): then the
// choice is hidden and the system's output is used.
//
// Emits "change" when the list of devices or the choice changes.

import { load, save } from './store.js';

const KEY = 'tabphone.devices.v1';

export function sinkSupported() {
  return typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
}

export class DeviceChoice extends EventTarget {
  constructor() {
    super();
    const saved = load(KEY, {});
    this.micId = typeof saved.micId === 'string' ? saved.micId : '';
    this.speakerId = typeof saved.speakerId === 'string' ? saved.speakerId : '';
    this.inputs = [];
    this.outputs = [];
    // Labels stay empty until the page has had microphone permission once.
    this.labelled = false;
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener('devicechange', () => this.refresh());
    }
  }

  changed() {
    this.dispatchEvent(new CustomEvent('change'));
  }

  async refresh() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const all = await navigator.mediaDevices.enumerateDevices();
    this.inputs = all.filter((d) => d.kind === 'audioinput');
    this.outputs = all.filter((d) => d.kind === 'audiooutput');
    this.labelled = all.some((d) => d.label !== '');
    this.changed();
  }

  setMic(id) {
    this.micId = id;
    this.persist();
  }

  setSpeaker(id) {
    this.speakerId = id;
    this.persist();
  }

  persist() {
    save(KEY, { micId: this.micId, speakerId: this.speakerId });
    this.changed();
  }

  // getUserMedia audio constraints with the chosen microphone (none chosen: the default).
  micConstraint() {
    return this.micId ? { deviceId: { exact: this.micId } } : {};
  }

  // Routes a media element (the far end's audio) to the chosen speaker. Never throws: a
  // speaker that went away leaves the audio on the default output.
  async applySink(element) {
    if (!sinkSupported() || !element) return false;
    try {
      await element.setSinkId(this.speakerId || '');
      return true;
    } catch {
      return false;
    }
  }
}
