// session-features.test.mjs: RFC 4028 session timers, RFC 3262 reliable provisional responses
// (100rel/PRACK) both ways, early media SDP and a re-INVITE without SDP, through
// server/sip/call.c against sipp peers on 127.0.0.1 (call_probe drives one call and prints its
// events as JSON lines).
//
//   CALL_PROBE=$PWD/build/tests/sip/call_probe tests/e2e/run.sh sip/session-features.test.mjs
//
// The session timer scenarios use a 6 s interval (the config's min_se is 2 for this): the side
// that does not refresh must BYE min(32, 6 / 3) = 2 s before it expires, so 4 s after the last
// refresh.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startProbe, waitFor, writeProbeConfig } from '../lib/call-probe.mjs';
import { freePort, startSipp } from '../lib/sip-peers.mjs';

/** Open mode on loopback, SIP on sipPort, short session timers allowed, account alice. */
const writeConfig = (sipPort) => writeProbeConfig({
  sipPort, userAgent: 'tabphone-session-probe', sipExtra: 'min_se = 2',
  accounts: { alice: { uri: 'sip:alice@127.0.0.1', register: 'no' } },
});

/** One outbound call through the direct account to a sipp UAS running scenario. */
async function outbound(scenario, args = []) {
  const sipp = await startSipp(scenario);
  try {
    const sipPort = await freePort();
    const r = await startProbe(['--config', writeConfig(sipPort), '--account', 'direct',
      '--to', `sip:bob@127.0.0.1:${sipp.port}`, ...args]).done;
    const exit = await Promise.race([sipp.exited, new Promise((res) => setTimeout(() => res(null), 1500))]);
    return { ...r, exit, messages: sipp.messages(), sippOutput: sipp.output() };
  } finally {
    await sipp.stop();
  }
}

/** One inbound call: a sipp UAC running scenario calls alice at the probe, which answers. */
async function inbound(scenario) {
  const sipPort = await freePort();
  const probe = startProbe(['--config', writeConfig(sipPort), '--inbound', 'answer', '--timeout', '15']);
  await waitFor(() => probe.stderr().includes('listening on'), 'the probe to listen');
  const sipp = await startSipp(scenario, { mayExit: true,
    args: ['-m', '1', '-t', 'u1', '-s', 'alice', `127.0.0.1:${sipPort}`] });
  try {
    const exit = await Promise.race([sipp.exited, new Promise((res) => setTimeout(() => res(null), 14000))]);
    const messages = sipp.messages();
    const r = await probe.done;
    return { ...r, exit, messages, sippOutput: sipp.output() };
  } finally {
    await sipp.stop();
  }
}

const types = (events) => events.map((e) => e.type);
const find = (r, type) => {
  const e = r.events.find((x) => x.type === type);
  assert.ok(e, `no ${type} event: ${JSON.stringify(r.lines)}\n${r.messages}\n${r.stderr.slice(-3000)}`);
  return e;
};
/** sipp's trace split per message: the ones sipp received that start with `start`. */
const received = (messages, start) => messages.split(/-{10,}/)
  .filter((m) => new RegExp(`message received[^\\n]*\\n\\s*${start}`).test(m));
const sent = (messages, start) => messages.split(/-{10,}/)
  .filter((m) => new RegExp(`message sent[^\\n]*\\n\\s*${start}`).test(m));
const noSanitizer = (r) => assert.doesNotMatch(r.stderr, /ERROR: (Address|Leak)Sanitizer|runtime error:|Assertion .* failed/);

describe('session timers (RFC 4028)', { concurrency: true }, () => {
  test('the far end is the refresher and goes silent: we BYE before expiry, ended 408 session_timer_expired', async () => {
    const r = await outbound('session-timer-silent.xml', ['--timeout', '20']);
    noSanitizer(r);
    const answered = find(r, 'answered');
    const end = find(r, 'ended');
    assert.equal(end.code, 408);
    assert.equal(end.reason, 'session_timer_expired');
    // 6 s interval: our BYE is due 2 s before expiry, 4 s after the answer.
    const after = end.t - answered.t;
    assert.ok(after >= 3800 && after < 5500, `ended ${after} ms after the answer`);
    const bye = received(r.messages, 'BYE ');
    assert.equal(bye.length, 1, r.messages);
    assert.match(bye[0], /Reason: SIP;cause=408;text="Session timer expired"/);
    assert.match(r.stderr, /session timer expired/);
    // Our INVITE asked for the configured interval and allowed the short one of the test.
    const invite = received(r.messages, 'INVITE ')[0];
    assert.match(invite, /Supported: [^\n]*timer/);
    assert.match(invite, /Session-Expires: 1800/);
    assert.match(invite, /Min-SE: 2/);
  });

  test('the far end refreshes with UPDATE: the call outlives the interval', async () => {
    const r = await outbound('session-timer-refresh-update.xml', ['--hangup-after', '7000', '--timeout', '20']);
    noSanitizer(r);
    assert.deepEqual(types(r.events), ['answered', 'ended']);
    assert.equal(find(r, 'ended').reason, 'hung up');
    assert.equal(r.exit?.code, 0, r.sippOutput);
    // Both UPDATEs answered 200, and the 200s keep the timer going.
    const oks = received(r.messages, 'SIP/2.0 200 OK').filter((m) => /CSeq: \d+ UPDATE/.test(m));
    assert.equal(oks.length, 2, r.messages);
    for (const ok of oks) assert.match(ok, /Session-Expires: 6;refresher=uac/);
  });

  test('we are the refresher: UPDATE every half interval, the call goes on', async () => {
    const r = await outbound('session-timer-we-refresh.xml', ['--hangup-after', '7000', '--timeout', '20']);
    noSanitizer(r);
    assert.deepEqual(types(r.events), ['answered', 'ended']);
    assert.equal(find(r, 'ended').reason, 'hung up');
    const updates = received(r.messages, 'UPDATE ');
    assert.ok(updates.length >= 2, `UPDATEs: ${updates.length}\n${r.messages}`);
    assert.match(updates[0], /Session-Expires: \d+;refresher=uac/);
  });

  test('we are the refresher and the far end refuses UPDATE (405): we refresh by re-INVITE', async () => {
    const r = await outbound('session-timer-no-update.xml', ['--hangup-after', '7500', '--timeout', '20']);
    noSanitizer(r);
    assert.deepEqual(types(r.events), ['answered', 'ended']);
    assert.equal(find(r, 'ended').reason, 'hung up');
    const reinvites = received(r.messages, 'INVITE ').slice(1);
    assert.ok(reinvites.length >= 2, `refresh re-INVITEs: ${reinvites.length}\n${r.messages}`);
    // The refresh carries our SDP unchanged (same o= version as the first INVITE's).
    const version = (m) => /o=\S+ \d+ (\d+)/.exec(m)[1];
    assert.equal(version(reinvites[0]), version(received(r.messages, 'INVITE ')[0]));
  });

  test('inbound: the caller refreshes (refresher=uac) and goes silent: we BYE', async () => {
    const r = await inbound('session-timer-inbound-silent.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    const ok = received(r.messages, 'SIP/2.0 200 OK')[0];
    assert.match(ok, /Session-Expires: 6;refresher=uac/);
    const end = find(r, 'ended');
    assert.equal(end.code, 408);
    assert.equal(end.reason, 'session_timer_expired');
    const after = end.t - find(r, 'confirmed').t;
    assert.ok(after >= 3800 && after < 5500, `ended ${after} ms after the ACK`);
  });

  test('inbound: we are asked to refresh (refresher=uas): our UPDATE goes out, no crash', async () => {
    const r = await inbound('session-timer-inbound-we-refresh.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    assert.equal(received(r.messages, 'UPDATE ').length, 1);
    assert.equal(find(r, 'ended').reason, 'BYE from far end');
  });
});

describe('100rel / PRACK (RFC 3262)', { concurrency: true }, () => {
  test('inbound INVITE with Require: 100rel: reliable 180, PRACK answered, call connects', async () => {
    const r = await inbound('prack-inbound.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    const ringing = received(r.messages, 'SIP/2.0 180 Ringing')[0];
    assert.match(ringing, /RSeq: \d+/);
    assert.match(ringing, /Require: 100rel/);
    assert.deepEqual(types(r.events), ['confirmed', 'ended']);
  });

  test('inbound: the PRACK comes after our answer: the 200 waits for it', async () => {
    const r = await inbound('prack-inbound-late.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    const parts = r.messages.split(/-{10,}/);
    const prack = parts.findIndex((m) => /message sent[^\n]*\n\s*PRACK /.test(m));
    const inviteOk = parts.findIndex((m) => /message received[^\n]*\n\s*SIP\/2.0 200/.test(m) && /CSeq: 1 INVITE/.test(m));
    assert.ok(prack >= 0 && inviteOk > prack, r.messages);
    assert.deepEqual(types(r.events), ['confirmed', 'ended']);
  });

  test('inbound: a PRACK naming no response of ours gets 481 and changes nothing', async () => {
    const r = await inbound('prack-inbound-bogus.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    assert.match(r.messages, /SIP\/2.0 481 /);
    assert.deepEqual(types(r.events), ['confirmed', 'ended']);
  });

  test('inbound: the caller CANCELs before PRACKing our reliable 180: 200 + 487, no crash', async () => {
    const r = await inbound('prack-inbound-cancel.xml');
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput + r.messages);
    assert.match(r.messages, /SIP\/2.0 487 /);
    assert.equal(find(r, 'ended').code, 487);
  });

  test('outbound: a reliable 183 with SDP is PRACKed; early SDP, then the 200 with another SDP', async () => {
    const r = await outbound('prack-outbound.xml', ['--hangup-after', '300', '--timeout', '20']);
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput);
    const prack = received(r.messages, 'PRACK ');
    assert.equal(prack.length, 1, r.messages);
    assert.match(prack[0], /RAck: 4711 \d+ INVITE/);
    const progress = find(r, 'progress');
    assert.equal(progress.code, 183);
    assert.match(progress.sdp, /m=audio \d+ RTP\/AVP 0 8/);
    const answered = find(r, 'answered');
    assert.match(answered.sdp, /m=audio \d+ RTP\/AVP 8\r\n/);
    assert.notEqual(/m=audio (\d+)/.exec(progress.sdp)[1], /m=audio (\d+)/.exec(answered.sdp)[1]);
    assert.equal(find(r, 'ended').reason, 'hung up');
  });
});

describe('re-INVITE without SDP', () => {
  test('our offer goes in the 200, the far end answer in the ACK is reported', async () => {
    const r = await outbound('reinvite-nosdp.xml', ['--hangup-after', '1500', '--timeout', '20']);
    noSanitizer(r);
    assert.equal(r.exit?.code, 0, r.sippOutput);
    const ok = received(r.messages, 'SIP/2.0 200 OK').find((m) => /CSeq: 2 INVITE/.test(m));
    assert.ok(ok, r.messages);
    assert.match(ok, /m=audio 40000 RTP\/AVP 0 101/);
    const remote = find(r, 'remote_sdp');
    assert.match(remote.sdp, /c=IN IP4 127.0.0.2/);
    assert.match(remote.sdp, /m=audio 7004 /);
  });
});
