// SDES-SRTP toward a real phone (issue 6 "Encryption toward the provider"): headless Chromium
// <-> tabphone (DTLS-SRTP) <-> baresip with its srtp module (SDES, RFC 4568), tone checked both
// ways. The tab plays 440 Hz, the phone 880 Hz. A phone with srtp-mand drops anything that is
// not SRTP with its key, and tabphone's mandatory account sends nothing in clear: a tone heard
// on each side proves both directions were encrypted and decrypted with the negotiated keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { sharedBrowser, call, acceptIncoming, measure, hangup, sleep, near } from './lib/raw-call.mjs';

const { openTab } = sharedBrowser();

const secureAccount = (srtp) => ({ 'account secure': { uri: 'sip:secure@127.0.0.1', register: 'no', srtp } });

async function checkBothWays(page, phone) {
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
  return { tab: m, phone: heard };
}

test('outbound over a mandatory account to an srtp-mand phone: SDES-SRTP, tone both ways', async () => {
  const srv = await startServer({ config: secureAccount('mandatory') });
  const phone = await startBaresip({ toneHz: 880, mediaenc: 'srtp-mand' });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri, { fromAccount: 'secure' });
    assert.match(answered.encryption.browser, /^DTLS-SRTP/); // the suite follows once DTLS is done
    assert.match(answered.encryption.sip, /^SDES-SRTP (AES_CM_128_HMAC_SHA1_(80|32)|AEAD_AES_128_GCM)$/);
    const r = await checkBothWays(page, phone);
    console.log(`# sip leg: ${answered.encryption.sip}; tab heard ${r.tab.frequency.toFixed(1)} Hz at ${r.tab.level.toFixed(1)} dB; phone heard ${r.phone.frequency} Hz rms ${r.phone.rms.toFixed(3)}`);
    assert.match(srv.logs(), /SIP leg keyed \(SDES, SRTP_/);
    assert.doesNotMatch(srv.logs(), /SRTP from the SIP side failed authentication/);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('outbound over an optional account to a best-effort srtp phone (RTP/AVP + a=crypto): encrypted', async () => {
  const srv = await startServer({ config: secureAccount('optional') });
  const phone = await startBaresip({ toneHz: 880, mediaenc: 'srtp' });
  try {
    const page = await openTab(srv);
    const answered = await call(page, phone.uri, { fromAccount: 'secure' });
    assert.match(answered.encryption.sip, /^SDES-SRTP /);
    await checkBothWays(page, phone);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('inbound from an srtp-mand phone to a mandatory account: answered with our key, tone both ways', async () => {
  const srv = await startServer({ config: secureAccount('mandatory') });
  let phone;
  try {
    const page = await openTab(srv);
    phone = await startBaresip({ toneHz: 880, user: 'caller', mediaenc: 'srtp-mand',
      dial: `sip:secure@127.0.0.1:${srv.sipPort}` });
    const incoming = await acceptIncoming(page);
    assert.equal(incoming.account, 'secure');
    await srv.waitForLog(/SIP leg: SDES-SRTP \S+ \(RTP\/SAVP\)/);
    await checkBothWays(page, phone);
    await page.close();
  } finally {
    await phone?.stop();
    await srv.stop();
  }
});
