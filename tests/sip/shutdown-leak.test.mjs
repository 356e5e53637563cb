// Stopping the server while an outbound INVITE is still pending (issue 5 "Bad input": LeakSanitizer
// reports nothing at exit). The far end is a UDP blackhole (the INVITE is never answered, not
// even with 100 Trying) or a sipp UAS that rings forever; the server gets SIGTERM (drain 0) or
// SIGINT while the INVITE client transaction is alive. Against the ASan build, srv.stop() fails
// the test on any LeakSanitizer/ASan/UBSan report, so these tests are the leak check; against
// the normal build they check a clean, prompt exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { startBlackhole, startSipp } from '../lib/sip-peers.mjs';
import { SignalClient } from '../lib/client.mjs';

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Places a call to sip:bob@127.0.0.1:port from a tab; returns the client once the INVITE is out. */
async function pendingCall(srv, port, waitInvite) {
  const c = await SignalClient.connect(srv.wsUrl);
  c.send({ type: 'call', call_id: 'c1', to: `sip:bob@127.0.0.1:${port}`, from_account: 'direct', sdp: OFFER });
  await waitInvite(c);
  return c;
}

async function stopAndCheck(srv, signal) {
  const at = Date.now();
  const { code } = await srv.stop(signal); // throws on any sanitizer report
  assert.equal(code, 0, srv.logs().slice(-4000));
  assert.ok(Date.now() - at < 10000, `exit took ${Date.now() - at} ms`);
  // nua_shutdown finished, so sofia-sip was destroyed rather than left behind at exit.
  assert.match(srv.logs(), /sip +\[-\] shutdown complete/, srv.logs().slice(-4000));
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal} while the INVITE to a blackhole has no answer: clean exit, no leak`, async () => {
    const hole = await startBlackhole();
    const srv = await startServer();
    try {
      const c = await pendingCall(srv, hole.port, async () => {
        for (let i = 0; i < 100 && hole.received() === 0; i++) await sleep(50);
        assert.ok(hole.received() > 0, 'the INVITE never reached the blackhole');
      });
      await sleep(700); // at least one retransmission (T1 = 500 ms) is scheduled
      await stopAndCheck(srv, signal);
      c.close();
    } finally {
      await srv.stop();
      await hole.stop();
    }
  });
}

test('SIGTERM while the far end rings (180, no final answer): clean exit, no leak', async () => {
  const sipp = await startSipp('uas-ring-forever.xml');
  const srv = await startServer();
  try {
    const c = await pendingCall(srv, sipp.port, async (tab) => {
      // Our ICE candidates may come first; the call must not have ended before it rang.
      const m = await tab.next((x) => x.call_id === 'c1' && x.type !== 'candidate', 8000);
      assert.deepEqual([m.type, m.code], ['progress', 180], JSON.stringify(m));
    });
    await stopAndCheck(srv, 'SIGTERM');
    c.close();
  } finally {
    await srv.stop();
    await sipp.stop();
  }
});

test('SIGTERM while the REGISTER to a silent registrar has no answer: clean exit, no leak', async () => {
  const hole = await startBlackhole();
  const srv = await startServer({
    config: { 'account office': { uri: 'sip:office@127.0.0.1', password: 'x-Secret-9', registrar: `sip:127.0.0.1:${hole.port}` } },
  });
  try {
    for (let i = 0; i < 100 && hole.received() === 0; i++) await sleep(50);
    assert.ok(hole.received() > 0, 'the REGISTER never reached the blackhole');
    await sleep(700);
    await stopAndCheck(srv, 'SIGTERM');
  } finally {
    await srv.stop();
    await hole.stop();
  }
});
