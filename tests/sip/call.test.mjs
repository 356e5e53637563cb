// call.test.mjs: server/sip/call.c against sipp peers on 127.0.0.1 (call_probe drives one call
// and prints its events as JSON lines).
//
//   unshare -n sh -c 'ip link set lo up && node --test tests/sip/call.test.mjs'
// Needs the probe built: ninja -C <builddir> tests/sip/call_probe (CALL_PROBE=path overrides;
// default looks in build-call/, build-sip/, then build/).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startProbe, waitFor, writeProbeConfig } from '../lib/call-probe.mjs';
import { freePort, startSipp } from '../lib/sip-peers.mjs';

const PASSWORD = 'alice-secret'; // the one in scenarios/uas-challenge.xml and uas-bye-challenge.xml
const REALM = 'tabphone-test';

/** A config file: open mode on loopback, SIP on sipPort, plus [account] sections. */
const writeConfig = writeProbeConfig;

const types = (events) => events.map((e) => e.type);
const ended = (r) => {
  const e = r.events.find((x) => x.type === 'ended');
  assert.ok(e, 'no ended event: ' + JSON.stringify(r.lines) + (r.messages ?? ''));
  return e;
};
const count = (text, re) => (text.match(re) || []).length;

/** One outbound call through the direct account (or `account`) to a sipp UAS. */
async function outbound(scenario, { account = 'direct', accounts, args = [], sippArgs, to } = {}) {
  const sipp = await startSipp(scenario, sippArgs ? { args: sippArgs } : {});
  try {
    const sipPort = await freePort();
    const config = writeConfig({ sipPort, accounts });
    const target = to ?? `sip:bob@127.0.0.1:${sipp.port}`;
    const r = await startProbe(['--config', config, '--account', account, '--to', target, ...args]).done;
    await Promise.race([sipp.exited, new Promise((res) => setTimeout(res, 1500))]);
    return { ...r, sipp, messages: sipp.messages(), sippRunning: null };
  } finally {
    await sipp.stop();
  }
}

/** sipp's trace: "----- 2025-01-01 12:00:00.123456" before each message; first INVITE received. */
function inviteArrival(messages) {
  const m = messages.match(/-{10,} (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\.\d+)\s*\n\s*UDP message received \[\d+\] bytes :\s*\n\s*INVITE /);
  return m ? new Date(m[1].replace(' ', 'T')).getTime() * 1000 + Number(m[1].slice(-3)) : null;
}

function noPassword(r) {
  assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), 'password leaked into output');
}

/** The MD5 digest response alice's real password gives (no qop). */
function digest(method, uri, nonce) {
  const md5 = (text) => crypto.createHash('md5').update(text).digest('hex');
  return md5(`${md5(`alice:${REALM}:${PASSWORD}`)}:${nonce}:${md5(`${method}:${uri}`)}`);
}

const aliceVia = (port) => ({
  alice: { uri: 'sip:alice@127.0.0.1', password: PASSWORD, proxy: `127.0.0.1:${port}`, register: 'yes' },
});

describe('outbound calls', { concurrency: true }, () => {
  test('answered call: 180 then answered with SDP, our BYE ends it', async () => {
    const r = await outbound('uas-answer.xml', { args: ['--hangup-after', '300'] });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(types(r.events).filter((t) => t !== 'progress'), ['answered', 'ended']);
    const progress = r.events.filter((e) => e.type === 'progress').map((e) => e.code);
    assert.ok(progress.includes(180), JSON.stringify(r.events));
    const answered = r.events.find((e) => e.type === 'answered');
    assert.ok(answered?.sdp?.includes('m=audio'), JSON.stringify(r.events));
    assert.equal(ended(r).reason, 'hung up');
    assert.match(r.messages, /ACK sip:/);
    assert.match(r.messages, /BYE sip:/);
    assert.match(r.messages, /RTP\/AVP 0 101/); // our SDP went out verbatim
    const sent = r.lines.find((l) => l.event === 'invite_call').epoch_us;
    const arrived = inviteArrival(r.messages);
    if (arrived) console.log(`# INVITE on the wire ${((arrived - sent) / 1000).toFixed(2)} ms after sip_call_new_outgoing`);
  });

  test('far end hangs up: ended 200 "BYE from far end"', async () => {
    const r = await outbound('uas-answer-bye.xml');
    assert.equal(ended(r).code, 200, JSON.stringify(r.events));
    assert.equal(ended(r).reason, 'BYE from far end');
  });

  test('re-INVITE and UPDATE from the far end: 200 with our SDP, remote_sdp reported', async () => {
    const r = await outbound('uas-reinvite.xml', { args: ['--hangup-after', '1000'] });
    assert.equal(r.code, 0, r.stderr);
    const moved = r.events.filter((e) => e.type === 'remote_sdp');
    assert.deepEqual(moved.map((e) => e.sdp.match(/m=audio (\d+)/)[1]), ['7000', '7002']);
    // our 200s to the re-INVITE and the UPDATE carry our SDP unchanged (o= version 1)
    assert.equal(count(r.messages, /SIP\/2.0 200 OK[^]*?o=- 4242 1 IN IP4/g), 2);
    assert.equal(ended(r).reason, 'hung up');
  });

  test('busy: ended 486 "486 Busy Here"', async () => {
    const r = await outbound('uas-busy.xml');
    assert.deepEqual([ended(r).code, ended(r).reason], [486, '486 Busy Here'], JSON.stringify(r.events));
  });

  test('hangup while ringing sends CANCEL', async () => {
    const r = await outbound('uas-ring-forever.xml', { args: ['--cancel-after', '500'] });
    assert.deepEqual([ended(r).code, ended(r).reason], [0, 'cancelled'], JSON.stringify(r.events));
    assert.match(r.messages, /CANCEL sip:/);
    assert.equal(count(r.messages, /^\s*BYE /gm), 0);
  });

  test('407 from the account proxy is answered once with the right credentials', async () => {
    const sipp = await startSipp('uas-challenge.xml');
    try {
      const sipPort = await freePort();
      const config = writeConfig({ sipPort, accounts: aliceVia(sipp.port) });
      const r = await startProbe(['--config', config, '--account', 'alice', '--to',
        'sip:bob@127.0.0.1', '--hangup-after', '200']).done;
      await Promise.race([sipp.exited, new Promise((res) => setTimeout(res, 1500))]);
      const messages = sipp.messages();
      assert.ok(r.events.find((e) => e.type === 'answered'), JSON.stringify(r.events) + messages);
      assert.equal(count(messages, /^\s*INVITE /gm), 2);
      const auth = messages.match(/INVITE sip:[\s\S]*?Proxy-Authorization:.*response="([0-9a-f]+)"/i);
      assert.ok(auth, messages);
      assert.equal(auth[1], digest('INVITE', 'sip:bob@127.0.0.1', '4e7a1c2b9d0f'));
      assert.match(messages, /BYE sip:/);
      noPassword(r);
    } finally {
      await sipp.stop();
    }
  });

  test('a challenge from a host that is not the account proxy is not answered', async () => {
    const r = await outbound('uas-challenge.xml');
    assert.equal(ended(r).code, 407, JSON.stringify(r.events));
    assert.match(ended(r).reason, /^authentication required by 127\.0\.0\.1:\d+$/);
    assert.equal(count(r.messages, /Proxy-Authorization:/gi), 0);
  });

  test('302 is followed to the new target', async () => {
    const second = await startSipp('uas-answer.xml');
    try {
      const r = await outbound('uas-302.xml', {
        sippArgs: ['-m', '1', '-t', 'u1', '-key', 'target_port', String(second.port)],
        args: ['--hangup-after', '200'] });
      assert.ok(r.events.find((e) => e.type === 'answered'), JSON.stringify(r.events));
      await Promise.race([second.exited, new Promise((res) => setTimeout(res, 1500))]);
      assert.match(second.messages(), /BYE sip:/);
    } finally {
      await second.stop();
    }
  });

  test('a redirect loop stops after 3 hops', async () => {
    const r = await outbound('uas-302-loop.xml');
    assert.equal(ended(r).code, 302, JSON.stringify(r.events));
    assert.match(ended(r).reason, /too many redirects \(3\)/);
    assert.equal(count(r.messages, /^\s*INVITE /gm), 4);
  });
});

describe('hold, resume and transfer (in-dialog requests of ours)', { concurrency: true }, () => {
  /** The SIP requests sipp received, in order ("INVITE", "ACK", "REFER"...). */
  const received = (messages) => [...messages.matchAll(/UDP message received \[\d+\] bytes :\s*\n\s*([A-Z]+) /g)].map((m) => m[1]);

  test('hold sends a=sendonly, resume a=sendrecv; both answers come back as remote_sdp', async () => {
    const r = await outbound('uas-hold.xml', { args: ['--hold-after', '200', '--resume-after', '200', '--hangup-after', '1500'] });
    assert.equal(r.code, 0, r.stderr);
    const answers = r.events.filter((e) => e.type === 'remote_sdp');
    assert.deepEqual(answers.map((e) => [e.offer, e.sdp.match(/a=(sendrecv|recvonly|sendonly|inactive)/)[1]]),
      [[false, 'recvonly'], [false, 'sendrecv']], JSON.stringify(r.events));
    assert.deepEqual(received(r.messages), ['INVITE', 'ACK', 'INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
    const invites = r.messages.split(/-{10,}/).filter((m) => /received[^\n]*\n\s*INVITE /.test(m));
    assert.match(invites[1], /a=sendonly/);
    assert.match(invites[1], /o=- 4242 2 IN IP4/);
    assert.match(invites[2], /a=sendrecv/);
    assert.doesNotMatch(invites[1], /Authorization:/i);
    assert.equal(ended(r).reason, 'hung up');
  });

  test('a refused re-INVITE (491) is reinvite_failed and the call goes on', async () => {
    const r = await outbound('uas-reinvite-491.xml', { args: ['--hold-after', '200', '--hangup-after', '1500'] });
    const failed = r.events.find((e) => e.type === 'reinvite_failed');
    assert.ok(failed, JSON.stringify(r.events));
    assert.deepEqual([failed.code, failed.reason], [491, '491 Request Pending']);
    assert.equal(ended(r).reason, 'hung up'); // our own BYE, later: the 491 did not end the call
    assert.match(r.messages, /BYE sip:/);
  });

  test('REFER: 202, NOTIFY 100 then NOTIFY 200 sipfrag -> transfer events, final 200', async () => {
    const r = await outbound('uas-refer.xml', { args: ['--refer', 'sip:carol@127.0.0.1:5099'],
      sippArgs: ['-m', '1', '-t', 'u1', '-key', 'frag_code', '200', '-key', 'frag_phrase', 'OK'] });
    assert.equal(r.code, 0, r.stderr);
    const transfer = r.events.filter((e) => e.type === 'transfer');
    assert.deepEqual(transfer.map((e) => [e.code, e.reason, e.final]),
      [[202, '202 Accepted', false], [100, '100 Trying', false], [200, '200 OK', true]], JSON.stringify(r.events));
    assert.match(r.messages, /REFER sip:[^\n]*\n[\s\S]*?Refer-To: <sip:carol@127\.0\.0\.1:5099>/);
    const notifyOks = r.messages.split(/-{10,}/).filter((m) => /message received[^\n]*\n\s*SIP\/2.0 200 OK/.test(m) && /CSeq: \d+ NOTIFY/.test(m));
    assert.equal(notifyOks.length, 2, r.messages); // sofia answered both NOTIFYs
    assert.equal(ended(r).reason, 'hung up');
  });

  test('REFER whose target is busy: NOTIFY 486 sipfrag -> final transfer event 486', async () => {
    const r = await outbound('uas-refer.xml', { args: ['--refer', 'sip:carol@127.0.0.1:5099'],
      sippArgs: ['-m', '1', '-t', 'u1', '-key', 'frag_code', '486', '-key', 'frag_phrase', 'Busy Here'] });
    const last = r.events.filter((e) => e.type === 'transfer').at(-1);
    assert.deepEqual([last?.code, last?.reason, last?.final], [486, '486 Busy Here', true], JSON.stringify(r.events));
  });

  test('a REFER from the far end is declined with 603 and the call goes on', async () => {
    const r = await outbound('uas-refer-in.xml', { args: ['--hangup-after', '1000'] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.messages, /SIP\/2.0 603 Decline[^\n]*\n[\s\S]*?CSeq: 2 REFER/);
    assert.equal(count(r.messages, /SIP\/2.0 202 /g), 0);
    assert.equal(ended(r).reason, 'hung up');
  });
});

describe('digest leak (SIPDigestLeak)', () => {
  test('a 407 to our BYE (same realm) is never answered with the password', async () => {
    const sipp = await startSipp('uas-bye-challenge.xml');
    try {
      const sipPort = await freePort();
      const config = writeConfig({ sipPort, accounts: aliceVia(sipp.port) });
      const r = await startProbe(['--config', config, '--account', 'alice', '--to',
        'sip:bob@127.0.0.1', '--hangup-after', '200']).done;
      await Promise.race([sipp.exited, new Promise((res) => setTimeout(res, 4000))]);
      const messages = sipp.messages();
      assert.ok(r.events.find((e) => e.type === 'answered'), JSON.stringify(r.events) + messages);
      const byes = messages.split(/-{10,}/).filter((m) => /UDP message received[^\n]*\n\s*BYE /.test(m));
      assert.ok(byes.length >= 1, messages);
      for (const bye of byes.slice(1)) {
        const auth = bye.match(/Proxy-Authorization:.*response="([0-9a-f]+)"/i);
        if (!auth) continue;
        const uri = bye.match(/uri="([^"]+)"/)[1];
        assert.notEqual(auth[1], digest('BYE', uri, 'a77ac4e1leak'),
          'BYE challenge answered with the real password');
      }
      assert.equal(byes.length, 1, 'our BYE was retried after the challenge');
      noPassword(r);
    } finally {
      await sipp.stop();
    }
  });
});

/** One inbound call: sipp UAC calls `user` at the probe. */
async function inbound(mode, { user = 'alice', direct = true } = {}) {
  const sipPort = await freePort();
  const config = writeConfig({ sipPort, direct,
    accounts: { alice: { uri: 'sip:alice@127.0.0.1', register: 'no' } } });
  const probe = startProbe(['--config', config, '--inbound', mode, '--timeout', '15']);
  await waitFor(() => probe.stderr().includes('listening on'), 'the probe to listen');
  const sipp = await startSipp('uac-invite.xml', { mayExit: true,
    args: ['-m', '1', '-t', 'u1', '-s', user, `127.0.0.1:${sipPort}`] });
  try {
    const exit = await Promise.race([sipp.exited, new Promise((res) => setTimeout(() => res(null), 8000))]);
    const messages = sipp.messages();
    if (mode !== 'answer') await new Promise((res) => setTimeout(res, 300));
    return { probe, exit, messages, sipp };
  } finally {
    await sipp.stop();
  }
}

describe('inbound calls', { concurrency: true }, () => {
  test('answered: 180, 200 with our SDP, ACK -> confirmed, caller BYE -> ended', async () => {
    const { probe, exit, messages } = await inbound('answer');
    const r = await probe.done;
    assert.equal(exit?.code, 0, messages + r.stderr);
    assert.match(messages, /SIP\/2.0 180 Ringing/);
    assert.match(messages, /SIP\/2.0 200 OK[\s\S]*RTP\/AVP 0 101/);
    const incoming = r.lines.find((l) => l.event === 'incoming');
    assert.equal(incoming.account, 'alice');
    assert.equal(incoming.display, 'Sipp Caller');
    assert.match(incoming.sdp, /m=audio/);
    assert.deepEqual(types(r.events), ['confirmed', 'ended']);
    assert.equal(ended(r).reason, 'BYE from far end');
  });

  test('rejected with 486: the caller sees 486', async () => {
    const { probe, messages } = await inbound('reject:486');
    await probe.done;
    assert.match(messages, /SIP\/2.0 486 /);
  });

  test('no session takes it: 480', async () => {
    const { probe, messages } = await inbound('decline');
    await probe.done;
    assert.match(messages, /SIP\/2.0 480 /);
  });

  test('unknown user: 404', async () => {
    const { probe, messages } = await inbound('answer', { user: 'mallory', direct: false });
    probe.done.catch(() => {});
    assert.match(messages, /SIP\/2.0 404 /);
  });
});
