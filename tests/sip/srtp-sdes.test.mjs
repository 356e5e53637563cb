// SDES-SRTP toward the SIP side (issue 6 "Encryption toward the provider"): what our SDP says and
// what happens to calls, per account `srtp = off | optional | mandatory`. The far ends are sipp
// scenarios (sipp cannot do SRTP media, but it checks our SDP); the "tab" is a ws client with a
// WebRTC-shaped offer (no media: tests/e2e/srtp-sdes.test.mjs has the media proof).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startSipp } from '../lib/sip-peers.mjs';
import { SignalClient } from '../lib/client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':');
const browserSdp = (setup) => [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', `a=fingerprint:sha-256 ${FINGERPRINT}`,
  `a=setup:${setup}`, 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const KEY_LINE = /a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)/g;

/** The SDP bodies of SIP messages sipp saw, in order ("sent"/"received" from sipp's side). */
function inviteBody(messages) {
  const i = messages.search(/INVITE sip:/);
  return i < 0 ? '' : messages.slice(i, messages.indexOf('-----', i) > 0 ? messages.indexOf('-----', i) : undefined);
}

function accountConfig(srtp) {
  return {
    'account secure': { uri: 'sip:secure@127.0.0.1', register: 'no', srtp, codecs: 'pcmu' },
  };
}

async function tab(srv) {
  const c = await SignalClient.connect(srv.wsUrl);
  const welcome = await c.next('welcome');
  assert.ok(welcome.accounts, JSON.stringify(welcome));
  return c;
}

/** Every key our server put into SIP must stay out of its log (TPORT_LOG=1 traces messages). */
function assertKeysNotLogged(srv, messages) {
  const keys = [...messages.matchAll(KEY_LINE)].map((m) => m[3].replace(/=+$/, ''));
  assert.ok(keys.length > 0, 'no a=crypto seen at all');
  for (const key of keys) assert.ok(!srv.logs().includes(key), `key material in the server log: ${key}`);
  assert.match(srv.logs(), /inline:\*\*\*/, 'the SIP trace should show redacted keys');
}

async function outbound(srtp, scenario) {
  const srv = await startServer({ config: accountConfig(srtp), env: { TPORT_LOG: '1' } });
  const sipp = await startSipp(scenario);
  const c = await tab(srv);
  c.send({ type: 'call', call_id: 'c1', to: `sip:bob@127.0.0.1:${sipp.port}`, from_account: 'secure',
    sdp: browserSdp('actpass') });
  const result = await c.next((m) => m.call_id === 'c1' && (m.type === 'answered' || m.type === 'hangup'), 8000);
  return { srv, sipp, c, result };
}

test('optional offers RTP/AVP with a=crypto for all three suites and keys the SIP leg from an RTP/SAVP answer', async () => {
  const { srv, sipp, c, result } = await outbound('optional', 'srtp-uas-answer-savp.xml');
  try {
    assert.equal(result.type, 'answered', JSON.stringify(result));
    assert.equal(result.encryption.sip, 'SDES-SRTP AES_CM_128_HMAC_SHA1_80');
    assert.match(result.encryption.browser, /^DTLS-SRTP/);
    const invite = inviteBody(sipp.messages());
    assert.match(invite, /m=audio \d+ RTP\/AVP 0 101/);
    const lines = [...invite.matchAll(KEY_LINE)].map((m) => `${m[1]} ${m[2]} ${m[3].length}`);
    assert.deepEqual(lines, ['1 AES_CM_128_HMAC_SHA1_80 40', '2 AEAD_AES_128_GCM 40', '3 AES_CM_128_HMAC_SHA1_32 40']);
    await srv.waitForLog(/SIP leg keyed \(SDES, SRTP_AES128_CM_SHA1_80\)/);
    assertKeysNotLogged(srv, sipp.messages());
    c.send({ type: 'hangup', call_id: 'c1' });
    await c.next('hangup');
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('optional accepts a clear answer: the call goes on in RTP and says so', async () => {
  const { srv, sipp, c, result } = await outbound('optional', 'uas-answer.xml');
  try {
    assert.equal(result.type, 'answered', JSON.stringify(result));
    assert.equal(result.encryption.sip, 'none (RTP)');
    c.send({ type: 'hangup', call_id: 'c1' });
    await c.next('hangup');
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('mandatory offers RTP/SAVP and refuses a clear answer: BYE, and the tab hears srtp_required', async () => {
  const { srv, sipp, result } = await outbound('mandatory', 'uas-answer.xml');
  try {
    assert.equal(result.type, 'hangup', JSON.stringify(result));
    assert.equal(result.code, 488);
    assert.equal(result.reason, 'srtp_required');
    const invite = inviteBody(sipp.messages());
    assert.match(invite, /m=audio \d+ RTP\/SAVP 0 101/);
    for (let i = 0; i < 40 && !/^\s*BYE sip:/m.test(sipp.messages()); i++) await sleep(50);
    assert.match(sipp.messages(), /^\s*BYE sip:/m, 'the answered call must get a BYE');
    await srv.waitForLog(/refused: the far end answered RTP\/AVP without a usable a=crypto \(the account requires SRTP\)/);
    // No media in clear: the rtp leg never got a remote address.
    assert.doesNotMatch(srv.logs(), /RTP remote 127\.0\.0\.1/);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('mandatory refuses clear early media: CANCEL, and the tab hears srtp_required', async () => {
  const { srv, sipp, result } = await outbound('mandatory', 'srtp-uas-183-clear.xml');
  try {
    assert.equal(result.type, 'hangup', JSON.stringify(result));
    assert.equal(result.code, 488);
    assert.equal(result.reason, 'srtp_required');
    for (let i = 0; i < 40 && !/^\s*CANCEL sip:/m.test(sipp.messages()); i++) await sleep(50);
    assert.match(sipp.messages(), /^\s*CANCEL sip:/m);
    assert.doesNotMatch(srv.logs(), /RTP remote 127\.0\.0\.1/);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('in the dialog: a far end re-key is followed, and our answers and hold offer carry only our one key', async () => {
  const { srv, sipp, c, result } = await outbound('mandatory', 'srtp-uas-rekey-hold.xml');
  try {
    assert.equal(result.type, 'answered', JSON.stringify(result));
    await srv.waitForLog(/the far end changed its SRTP key: SIP leg re-keyed/);
    // In place: the streams' packet indexes (rollover counters) go on under the new key.
    await srv.waitForLog(/SIP leg re-keyed, packet indexes kept \(SDES, SRTP_AES128_CM_SHA1_80\)/);
    const held = await c.request({ type: 'hold', call_id: 'c1' }, 8000);
    assert.equal(held.state, 'held', JSON.stringify(held));
    c.send({ type: 'hangup', call_id: 'c1' });
    await c.next('hangup');
    const r = await sipp.exited;
    assert.equal(r.code, 0, `sipp's checks of our in-dialog SDP failed:\n${sipp.output()}`);
    assertKeysNotLogged(srv, sipp.messages());
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('mandatory keys the SIP leg from an RTP/SAVP answer', async () => {
  const { srv, sipp, c, result } = await outbound('mandatory', 'srtp-uas-answer-savp.xml');
  try {
    assert.equal(result.type, 'answered', JSON.stringify(result));
    assert.equal(result.encryption.sip, 'SDES-SRTP AES_CM_128_HMAC_SHA1_80');
    c.send({ type: 'hangup', call_id: 'c1' });
    await c.next('hangup');
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('off offers plain RTP/AVP without a=crypto', async () => {
  const { srv, sipp, c, result } = await outbound('off', 'uas-answer.xml');
  try {
    assert.equal(result.type, 'answered', JSON.stringify(result));
    assert.equal(result.encryption.sip, 'none (RTP)');
    const invite = inviteBody(sipp.messages());
    assert.match(invite, /m=audio \d+ RTP\/AVP 0 101/);
    assert.doesNotMatch(invite, /a=crypto/);
    c.send({ type: 'hangup', call_id: 'c1' });
    await c.next('hangup');
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

async function inbound(srtp, scenario) {
  const srv = await startServer({ config: accountConfig(srtp), env: { TPORT_LOG: '1' } });
  const c = await tab(srv);
  const sipp = await startSipp(scenario, { mayExit: true,
    args: ['-m', '1', '-s', 'secure', `127.0.0.1:${srv.sipPort}`] });
  return { srv, sipp, c };
}

test('an inbound RTP/SAVP offer is answered with our own key for the first usable a=crypto', async () => {
  const { srv, sipp, c } = await inbound('optional', 'srtp-uac-invite-savp.xml');
  try {
    const incoming = await c.next('incoming', 8000);
    c.send({ type: 'accept', call_id: incoming.call_id, sdp: browserSdp('active') });
    const answered = await c.next((m) => m.type === 'answered' || m.type === 'hangup', 8000);
    assert.equal(answered.type, 'answered', JSON.stringify(answered));
    assert.equal(answered.encryption.sip, 'SDES-SRTP AES_CM_128_HMAC_SHA1_32');
    const ended = await c.next('hangup', 8000); // sipp hangs up after 500 ms
    assert.equal(ended.call_id, incoming.call_id);
    const r = await sipp.exited;
    assert.equal(r.code, 0, `sipp failed (its regexp checks on our 200):\n${sipp.output()}`);
    const ours = [...sipp.messages().matchAll(/a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:([A-Za-z0-9+/]{40})/g)].map((m) => m[1]);
    assert.equal(new Set(ours).size, 2, 'our key must differ from the caller\'s');
    assertKeysNotLogged(srv, sipp.messages());
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('an inbound clear offer to a mandatory account gets 488 and never rings', async () => {
  const { srv, sipp, c } = await inbound('mandatory', 'srtp-uac-invite-clear.xml');
  try {
    const r = await sipp.exited;
    assert.equal(r.code, 0, `sipp expected 488:\n${sipp.output()}`);
    assert.match(sipp.messages(), /SIP\/2.0 488/);
    await srv.waitForLog(/rejected with 488: the far end offers RTP\/AVP without a usable a=crypto \(the account requires SRTP\)/);
    await sleep(200);
    assert.equal(c.received.filter((m) => m.type === 'incoming').length, 0);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});

test('an inbound RTP/SAVP offer to an account with srtp = off gets 488', async () => {
  const { srv, sipp } = await inbound('off', 'srtp-uac-invite-savp.xml');
  try {
    const r = await sipp.exited;
    assert.equal(r.code, 0, sipp.output());
    assert.match(sipp.messages(), /SIP\/2.0 488/);
    await srv.waitForLog(/the far end offers RTP\/SAVP but the account has srtp = off/);
  } finally {
    await sipp.stop();
    await srv.stop();
  }
});
