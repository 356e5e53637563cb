// nat.test.mjs: addresses behind NAT. With [sip] public_ip set, everything we tell a SIP peer
// names it (Contact of REGISTER and INVITE, the SIP-side SDP's o= and c=), never the private
// listen address; and requests reaching us get their answers where they came from (rport,
// RFC 3581). 127.0.0.9 stands in for the public address. Run inside a namespace:
//   TABPHONE_BIN=... tests/e2e/run.sh sip/nat.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { startResponder } from '../lib/sip-peers.mjs';

const PUBLIC = '127.0.0.9';

/** A browser offer as Chromium sends it (no candidates needed: the INVITE leaves first). */
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

/** Places one call from a tab to a responder that answers 486; returns the INVITE's text. */
async function inviteSeenBy(srv, far, host = '127.0.0.1') {
  const c = await SignalClient.connect(srv.wsUrl);
  try {
    await c.next('welcome');
    const uriHost = host.includes(':') ? `[${host}]` : host;
    c.send({ type: 'call', call_id: 'n1', to: `sip:bob@${uriHost}:${far.port}`, from_account: 'direct', sdp: OFFER });
    const h = await c.next((m) => m.type === 'hangup' && m.call_id === 'n1', 8000);
    assert.equal(h.code, 486, JSON.stringify(h));
    const invite = far.requests().find((r) => r.method === 'INVITE');
    assert.ok(invite, 'no INVITE arrived');
    return invite.text;
  } finally {
    await c.close();
  }
}

const header = (text, name) => text.split('\r\n').find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':')) ?? '';
const body = (text) => text.slice(text.indexOf('\r\n\r\n') + 4);

describe('NAT', { concurrency: true }, () => {
  test('with public_ip the INVITE names only it: Contact, SDP o= and c=', async () => {
    const far = await startResponder({ answer: (r) => (r.method === 'INVITE' ? 486 : 200) });
    const srv = await startServer({ config: { sip: { public_ip: PUBLIC } } });
    try {
      const invite = await inviteSeenBy(srv, far);
      assert.match(header(invite, 'Contact'), new RegExp(`@${PUBLIC.replaceAll('.', '\\.')}:${srv.sipPort}>`));
      const sdp = body(invite);
      assert.match(sdp, /^c=IN IP4 127\.0\.0\.9$/m);
      assert.match(sdp, /^o=\S+ \S+ \S+ IN IP4 127\.0\.0\.9$/m);
      assert.ok(!sdp.includes('127.0.0.1'), `private address in the SDP:\n${sdp}`);
    } finally {
      await srv.stop();
      await far.stop();
    }
  });

  test('with public_ip the REGISTER Contact names it', async () => {
    const registrar = await startResponder();
    const srv = await startServer({ config: { sip: { public_ip: PUBLIC }, 'account alice': {
      uri: 'sip:alice@127.0.0.1', registrar: `127.0.0.1:${registrar.port}` } } });
    try {
      await srv.waitForLog(/\[reg alice\].* registered/);
      const reg = registrar.requests().find((r) => r.method === 'REGISTER');
      assert.match(header(reg.text, 'Contact'), new RegExp(`<sip:alice@${PUBLIC.replaceAll('.', '\\.')}:${srv.sipPort}>`));
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('a registrar that sees another address (received/rport) gets a NAT warning naming it', async () => {
    const registrar = await startResponder({ via: (v) => v.replace(/;rport\b(=\d+)?/, '') + ';received=192.0.2.44;rport=6000' });
    const srv = await startServer({ config: { 'account alice': {
      uri: 'sip:alice@127.0.0.1', registrar: `127.0.0.1:${registrar.port}` } } });
    try {
      await srv.waitForLog(/the registrar sees us as 192\.0\.2\.44:6000 \(received\/rport\): behind NAT\?.*set \[sip\] public_ip = 192\.0\.2\.44/);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('our requests ask for rport in their Via', async () => {
    const far = await startResponder({ answer: (r) => (r.method === 'INVITE' ? 486 : 200) });
    const srv = await startServer({});
    try {
      const invite = await inviteSeenBy(srv, far);
      assert.match(header(invite, 'Via'), /;rport/);
    } finally {
      await srv.stop();
      await far.stop();
    }
  });

  test('an answer goes back to the source address and port of the request (rport, received)', async () => {
    const srv = await startServer({});
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    try {
      const ours = sock.address().port;
      // The Via claims another host and port, as behind a NAT that rewrote our source.
      const options = [`OPTIONS sip:tabphone@127.0.0.1:${srv.sipPort} SIP/2.0`,
        'Via: SIP/2.0/UDP 192.0.2.7:5099;rport;branch=z9hG4bK-nat-1', 'Max-Forwards: 70',
        'From: <sip:probe@192.0.2.7>;tag=1', `To: <sip:tabphone@127.0.0.1:${srv.sipPort}>`,
        'Call-ID: nat-rport-1', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n');
      const answer = new Promise((resolve) => sock.once('message', (m) => resolve(m.toString())));
      sock.send(options, srv.sipPort, '127.0.0.1');
      const text = await Promise.race([answer, new Promise((_, reject) => setTimeout(() => reject(new Error('no answer at the source port')), 3000))]);
      assert.match(text, /^SIP\/2\.0 \d{3} /);
      const via = header(text, 'Via');
      assert.match(via, new RegExp(`;rport=${ours}\\b`));
      assert.match(via, /;received=127\.0\.0\.1/);
    } finally {
      sock.close();
      await srv.stop();
    }
  });
});
