// Real calls end to end: headless Chromium <-> tabphone <-> a real SIP phone (baresip), audio
// checked in both directions by tone detection. The tab's fake microphone plays 440 Hz; the
// phone plays 880 Hz and records what it hears. Runs inside the test network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { sharedBrowser, call, acceptIncoming, measure, hangup, nextHangup, sleep, near } from './lib/raw-call.mjs';

const { openTab } = sharedBrowser();

test('the echo test destination loops the tab\'s audio back over DTLS-SRTP', async () => {
  const srv = await startServer();
  try {
    const page = await openTab(srv);
    const answered = await call(page, 'echo');
    assert.equal(answered.codec, 'opus/48000/2');
    await sleep(2500);
    const m = await measure(page);
    assert.ok(near(m.frequency, 440), `heard ${m.frequency} Hz`);
    assert.ok(m.level > -60, `tone level ${m.level} dB is silence`);
    assert.ok(m.packetsReceived > 100, `${m.packetsReceived} packets received`);
    await hangup(page);
    await page.close();
    assert.match(srv.logs(), /media connected \(SRTP_/);
  } finally { await srv.stop(); }
});

test('an outbound call to a SIP phone carries audio both ways', async () => {
  const srv = await startServer();
  const phone = await startBaresip({ toneHz: 880 });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri);
    assert.equal(answered.codec, 'PCMU/8000');
    assert.match(answered.encryption.browser, /DTLS-SRTP/);
    assert.match(answered.encryption.sip, /none/);
    await sleep(3000);
    const m = await measure(page);
    assert.ok(near(m.frequency, 880), `tab heard ${m.frequency} Hz, expected the phone's 880 Hz`);
    assert.ok(m.level > -60, `level ${m.level} dB`);
    await hangup(page);
    await phone.waitFor(/terminated|closed/);
    await sleep(500);
    const heard = phone.heard();
    assert.ok(heard.seconds > 2, `phone recorded ${heard.seconds} s`);
    assert.ok(near(heard.frequency, 440, 20), `phone heard ${heard.frequency} Hz, expected the tab's 440 Hz`);
    assert.ok(heard.rms > 0.05, `phone heard rms ${heard.rms}`);
    const invite = srv.logs().match(/INVITE sent ([0-9.]+) ms after the tab's call/);
    assert.ok(invite, 'the INVITE latency is logged');
    console.log(`# call -> INVITE: ${invite[1]} ms`);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('an Opus-capable far end gets Opus end to end (no transcoding)', async () => {
  const srv = await startServer();
  const phone = await startBaresip({ toneHz: 880, codecs: 'opus' });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri);
    assert.equal(answered.codec, 'opus/48000/2');
    await sleep(3000);
    const m = await measure(page);
    assert.ok(near(m.frequency, 880), `tab heard ${m.frequency} Hz`);
    await hangup(page);
    await phone.waitFor(/terminated|closed/);
    await sleep(500);
    const heard = phone.heard();
    assert.ok(near(heard.frequency, 440, 20), `phone heard ${JSON.stringify(heard)}`);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('an inbound call from a SIP phone rings the tab and carries audio both ways', async () => {
  const srv = await startServer({ config: { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  let phone;
  try {
    const page = await openTab(srv);
    phone = await startBaresip({ toneHz: 880, user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
    const incoming = await acceptIncoming(page);
    assert.equal(incoming.account, 'alice');
    assert.match(incoming.from, /^sip:caller@127\.0\.0\.1/);
    await sleep(3000);
    const m = await measure(page);
    assert.ok(near(m.frequency, 880), `tab heard ${m.frequency} Hz`);
    await hangup(page);
    await phone.waitFor(/terminated|closed/);
    await sleep(500);
    const heard = phone.heard();
    assert.ok(near(heard.frequency, 440, 20), `phone heard ${heard.frequency} Hz`);
    await page.close();
  } finally {
    await phone?.stop();
    await srv.stop();
  }
});

test('hanging up while the phone rings cancels the INVITE and ends the call', async () => {
  const srv = await startServer();
  const phone = await startBaresip({ autoAnswer: false });
  try {
    const page = await openTab(srv);
    // baresip without auto-answer just rings: hang up from the tab meanwhile.
    await page.evaluate(async (to) => {
      const rc = window.rc;
      await rc.newPeer('c2');
      const offer = await rc.pc.createOffer();
      await rc.pc.setLocalDescription(offer);
      rc.send({ type: 'call', call_id: 'c2', to, sdp: offer.sdp });
      await rc.next('progress', 10000);
    }, phone.uri);
    await hangup(page);
    const h = await nextHangup(page);
    assert.equal(h.call_id, 'c2');
    await phone.waitFor(/cancel|terminated|closed/i);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});
