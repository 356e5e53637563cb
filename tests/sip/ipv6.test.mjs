// ipv6.test.mjs: the SIP side on ::1. SIP listens on [::1], registers over IPv6 (UDP and TCP),
// calls a peer on ::1 with Via/Contact in brackets, and the SIP-side SDP names the IPv6 media
// address (c=IN IP6 ::1) of an rtp leg bound on ::1. Run inside a namespace:
//   TABPHONE_BIN=... tests/e2e/run.sh sip/ipv6.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { freePort, startResponder } from '../lib/sip-peers.mjs';

/** A browser offer as Chromium sends it (no candidates needed: the INVITE leaves first). */
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const header = (text, name) => text.split('\r\n').find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':')) ?? '';

async function v6Server(extra = {}) {
  const port = await freePort();
  const srv = await startServer({ config: { sip: { listen: `[::1]:${port}` }, ...extra } });
  return { srv, port };
}

describe('IPv6 on the SIP side', { concurrency: true }, () => {
  for (const proto of ['udp', 'tcp']) {
    test(`registers over IPv6 (${proto}) with a bracketed Contact`, async () => {
      const registrar = await startResponder({ proto, host: '::1' });
      const { srv, port } = await v6Server({ 'account alice': {
        uri: 'sip:alice@[::1]', registrar: `[::1]:${registrar.port}`, transport: proto } });
      try {
        await srv.waitForLog(/\[reg alice\].* registered/);
        const reg = registrar.requests().find((r) => r.method === 'REGISTER');
        assert.match(header(reg.text, 'Contact'), new RegExp(`<sip:alice@\\[::1\\]:${port}`));
        assert.match(reg.via, new RegExp(`SIP/2.0/${proto.toUpperCase()} \\[::1\\]:${port}`));
      } finally {
        await srv.stop();
        await registrar.stop();
      }
    });
  }

  test('a call to a peer on ::1: INVITE with [::1] Via/Contact and c=IN IP6 ::1', async () => {
    const far = await startResponder({ host: '::1', answer: (r) => (r.method === 'INVITE' ? 486 : 200) });
    const { srv, port } = await v6Server();
    const c = await SignalClient.connect(srv.wsUrl);
    try {
      await c.next('welcome');
      c.send({ type: 'call', call_id: 'v6', to: `sip:bob@[::1]:${far.port}`, from_account: 'direct', sdp: OFFER });
      const h = await c.next((m) => m.type === 'hangup' && m.call_id === 'v6', 8000);
      assert.equal(h.code, 486, JSON.stringify(h));
      const invite = far.requests().find((r) => r.method === 'INVITE').text;
      assert.match(header(invite, 'Contact'), new RegExp(`@\\[::1\\]:${port}>`));
      assert.match(invite, /^c=IN IP6 ::1$/m);
      assert.match(invite, /^m=audio \d+ RTP\/AVP /m);
    } finally {
      await c.close();
      await srv.stop();
      await far.stop();
    }
  });
});
