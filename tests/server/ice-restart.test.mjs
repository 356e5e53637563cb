// ICE restart requests the server refuses (docs/protocol.md "ICE restart"): a `reoffer` for a
// call this tab does not have, for a call whose media never connected, or without its SDP. The
// call goes on after each refusal. The "tab" is a ws client with a WebRTC-shaped offer and no
// real media; tests/e2e/ice-restart.test.mjs covers the restart itself (and the SDP refusals
// that need connected media) in Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');
const RESTART = OFFER.replace('a=ice-ufrag:Abcd', 'a=ice-ufrag:Wxyz').replace('abcdefghijklmnopqrstuvwx', 'ABCDEFGHIJKLMNOPQRSTUVWX');

test('reoffer refusals: unknown call, media not connected, no sdp; the call goes on', async () => {
  const srv = await startServer({ config: { media: { rtp_timeout: 30 } } });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next((m) => m.type === 'welcome'); // open mode: no login

    const unknown = await c.request({ type: 'reoffer', call_id: 'nope', sdp: RESTART });
    assert.deepEqual([unknown.type, unknown.code, unknown.call_id], ['error', 'unknown_call', 'nope']);

    c.send({ type: 'call', call_id: 'e1', to: 'echo', sdp: OFFER });
    const answered = await c.next((m) => m.call_id === 'e1' && (m.type === 'answered' || m.type === 'hangup'));
    assert.equal(answered.type, 'answered', JSON.stringify(answered));

    // Nobody does ICE on the other side: the media of e1 never connects.
    const early = await c.request({ type: 'reoffer', call_id: 'e1', sdp: RESTART });
    assert.deepEqual([early.type, early.code, early.call_id], ['error', 'call_not_connected', 'e1']);
    assert.match(early.message, /media is connected/);

    const noSdp = await c.request({ type: 'reoffer', call_id: 'e1' });
    assert.deepEqual([noSdp.type, noSdp.code], ['error', 'invalid_field']);
    assert.match(noSdp.message, /sdp/);

    // Still there: a ping round trip shows no hangup arrived meanwhile, and hangup is answered.
    await c.request({ type: 'ping' });
    assert.equal(c.received.some((m) => m.type === 'hangup' && m.call_id === 'e1'), false);
    c.send({ type: 'hangup', call_id: 'e1' });
    const bye = await c.next((m) => m.type === 'hangup' && m.call_id === 'e1');
    assert.match(bye.reason, /hung up by you/);
    await c.close();
  } finally {
    await srv.stop();
  }
});
