// How calls fail, seen from the tab: every case ends with the right `hangup` code/reason and
// leaves no call behind (/healthz counts calls). Chromium <-> tabphone <-> baresip, in the test
// network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fetchRaw } from '../lib/server.mjs';
import { startBaresip } from '../lib/baresip.mjs';
import { startSipp } from '../lib/sip-peers.mjs';
import { sharedBrowser, call, acceptIncoming, measure, hangup, nextHangup, sleep, near } from './lib/raw-call.mjs';

const { openTab } = sharedBrowser();

async function callsLeft(srv) {
  for (let i = 0; i < 20; i++) {
    const h = JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body);
    if (h.calls === 0) return 0;
    await sleep(100);
  }
  return JSON.parse((await fetchRaw(`${srv.httpUrl}/healthz`)).body).calls;
}

/** Sends a call whose offer the test may rewrite first; resolves when the server hangs up. */
function callExpectingHangup(page, to, { rewrite, fromAccount } = {}) {
  return page.evaluate(async ({ to, rewrite, fromAccount }) => {
    const rc = window.rc;
    await rc.newPeer('f1');
    const offer = await rc.pc.createOffer();
    await rc.pc.setLocalDescription(offer);
    let sdp = offer.sdp;
    for (const [from, to] of rewrite || []) sdp = sdp.replace(new RegExp(from, 'g'), to);
    rc.send({ type: 'call', call_id: 'f1', to, sdp, ...(fromAccount ? { from_account: fromAccount } : {}) });
    const answered = rc.next('answered', 20000).then((m) => rc.setRemote({ type: 'answer', sdp: m.sdp })).catch(() => {});
    const h = await rc.next('hangup', 20000);
    await answered;
    return h;
  }, { to, rewrite, fromAccount });
}

test('a busy far end ends the call with 486 Busy Here', async () => {
  const srv = await startServer();
  const busy = await startSipp('uas-busy.xml');
  try {
    const page = await openTab(srv);
    const h = await callExpectingHangup(page, `sip:busy@127.0.0.1:${busy.port}`);
    assert.equal(h.code, 486);
    assert.match(h.reason, /486 Busy Here/);
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally {
    await busy.stop();
    await srv.stop();
  }
});

test('a far end that sends no RTP is hung up with rtp_timeout and BYE', async () => {
  const srv = await startServer({ config: { media: { rtp_timeout: 3 } } });
  const silent = await startSipp('uas-answer.xml'); // answers with SDP, never sends RTP
  try {
    const page = await openTab(srv);
    const t0 = Date.now();
    const h = await callExpectingHangup(page, `sip:silent@127.0.0.1:${silent.port}`);
    assert.equal(h.reason, 'rtp_timeout');
    assert.ok(Date.now() - t0 < 8000, `timeout took ${Date.now() - t0} ms`);
    for (let i = 0; i < 30 && !/BYE sip:/.test(silent.messages()); i++) await sleep(100);
    assert.match(silent.messages(), /BYE sip:/, 'the far end got a BYE');
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally {
    await silent.stop();
    await srv.stop();
  }
});

test('the first tab to accept wins; the others hear answered_elsewhere', async () => {
  const srv = await startServer({ config: { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  let phone;
  try {
    const first = await openTab(srv);
    const second = await openTab(srv);
    phone = await startBaresip({ user: 'caller', toneHz: 880, dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
    const [, incoming] = await Promise.all([
      first.evaluate(() => window.rc.next('incoming', 20000)),
      acceptIncoming(second),
    ]);
    const h = await first.evaluate(() => window.rc.next('hangup', 5000));
    assert.equal(h.call_id, incoming.call_id);
    assert.equal(h.reason, 'answered_elsewhere');
    await sleep(2000);
    assert.ok(near((await measure(second)).frequency, 880));
    await hangup(second);
    await first.close();
    await second.close();
  } finally {
    await phone?.stop();
    await srv.stop();
  }
});

test('a tab rejecting an inbound call answers the caller 486', async () => {
  const srv = await startServer({ config: { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  let phone;
  try {
    const page = await openTab(srv);
    phone = await startBaresip({ user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
    const incoming = await page.evaluate(async () => {
      const m = await window.rc.next('incoming', 20000);
      window.rc.send({ type: 'reject', call_id: m.call_id, code: 486 });
      return m;
    });
    assert.match(incoming.call_id, /^in-/);
    await phone.waitFor(/486/);
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally {
    await phone?.stop();
    await srv.stop();
  }
});

test('an inbound call nobody can take is answered 480', async () => {
  const srv = await startServer({ config: { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  const phone = await startBaresip({ user: 'caller', dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
  try {
    await phone.waitFor(/480/);
    assert.equal(await callsLeft(srv), 0);
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('closing the tab mid-call sends BYE to the far end', async () => {
  const srv = await startServer();
  const phone = await startBaresip({ toneHz: 880 });
  try {
    const page = await openTab(srv);
    await call(page, phone.uri);
    await sleep(1500);
    const t0 = Date.now();
    await page.close();
    await phone.waitFor(/terminated|closed/);
    assert.ok(Date.now() - t0 < 3000, `BYE took ${Date.now() - t0} ms`);
    assert.equal(await callsLeft(srv), 0);
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('a far end without a common codec ends the call with 488 and says why', async () => {
  const srv = await startServer({ config: { 'account g722only': { uri: 'sip:trunk@127.0.0.1', register: 'no', codecs: 'g722' } } });
  const phone = await startBaresip({ codecs: 'PCMU' });
  try {
    const page = await openTab(srv);
    const h = await callExpectingHangup(page, phone.uri, { fromAccount: 'g722only' });
    assert.ok([488, 415, 606].includes(h.code), `code ${h.code} ${h.reason}`);
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally {
    await phone.stop();
    await srv.stop();
  }
});

test('an account and a browser without a common codec: 488 before anything is sent', async () => {
  const srv = await startServer({ config: { 'account gsm': { uri: 'sip:trunk@127.0.0.1', register: 'no', codecs: 'g722' } } });
  try {
    const page = await openTab(srv);
    // Remove G722 from what the server sees of the browser's offer, and make its other codecs
    // unknown to us too (with any codec we know, the call would be transcoded instead).
    const h = await callExpectingHangup(page, 'sip:nobody@127.0.0.1:9', {
      fromAccount: 'gsm', rewrite: [['a=rtpmap:9 G722/8000\\r\\n', ''], ['(m=audio [^\\r]*) 9( |\\r)', '$1$2'],
        ['opus/48000/2', 'opus/48000/1'], ['PCMU/8000', 'PCMU/16000'], ['PCMA/8000', 'PCMA/16000']] });
    assert.equal(h.code, 488);
    assert.match(h.reason, /no common codec \(browser: .*; account: g722\)/);
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally { await srv.stop(); }
});

test('a DTLS certificate that does not match the offer\'s fingerprint ends the call', async () => {
  const srv = await startServer();
  try {
    const page = await openTab(srv);
    const h = await callExpectingHangup(page, 'echo', {
      rewrite: [['a=fingerprint:sha-256 ([0-9A-F]{2}):', 'a=fingerprint:sha-256 00:']] });
    assert.equal(h.reason, 'dtls_fingerprint_mismatch', srv.logs().split('\n').filter((l) => / media | call /.test(l)).join('\n'));
    assert.equal(await callsLeft(srv), 0);
    await page.close();
  } finally { await srv.stop(); }
});

// The long test runs once, in the normal build (scripts/test sets TABPHONE_SKIP_LONG for the
// sanitizer run of this file).
test('calls in both directions keep media flowing past 40 s', { skip: process.env.TABPHONE_SKIP_LONG ? 'long test: normal build only' : false }, async () => {
  const srv = await startServer({ config: { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  const callee = await startBaresip({ toneHz: 880, lifetimeSec: 90 });
  let caller;
  try {
    const out = await openTab(srv);
    const inTab = await openTab(srv);
    await call(out, callee.uri);
    caller = await startBaresip({ toneHz: 880, user: 'caller', lifetimeSec: 90, dial: `sip:alice@127.0.0.1:${srv.sipPort}` });
    // Only the second tab answers: the first one is busy in its own call.
    await acceptIncoming(inTab);
    await sleep(42000);
    for (const page of [out, inTab]) {
      const m = await measure(page);
      assert.ok(near(m.frequency, 880), `after 42 s the tab heard ${m.frequency} Hz`);
      assert.ok(m.packetsReceived > 40 * 45, `${m.packetsReceived} packets in 42 s`);
    }
    assert.doesNotMatch(srv.logs(), /ended: .*\(3[0-9]\.[0-9] s\)/, 'no call died at ~32 s');
    await hangup(out);
    await hangup(inTab);
    await out.close();
    await inTab.close();
  } finally {
    await caller?.stop();
    await callee.stop();
    await srv.stop();
  }
});
