// nat.test.mjs: addresses behind NAT. With [sip] public_ip set, everything we tell a SIP peer
// names it (Contact of REGISTER and INVITE, the SIP-side SDP's o= and c=), never the private
// listen address; and requests reaching us get their answers where they came from (rport,
// RFC 3581). 127.0.0.9 stands in for the public address. Without public_ip, the address a
// registrar reports in its 2xx Via (received/rport) is learned per account: a responder that
// adds received=127.0.0.5;rport=40000 plays the registrar behind a NAT. Run inside a namespace:
//   TABPHONE_BIN=... tests/e2e/run.sh sip/nat.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { startResponder, startSipp, freePort } from '../lib/sip-peers.mjs';

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
async function inviteSeenBy(srv, far, host = '127.0.0.1', account = 'direct') {
  const c = await SignalClient.connect(srv.wsUrl);
  try {
    await c.next('welcome');
    const uriHost = host.includes(':') ? `[${host}]` : host;
    c.send({ type: 'call', call_id: 'n1', to: `sip:bob@${uriHost}:${far.port}`, from_account: account, sdp: OFFER });
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
/** Every Contact header line of a message (full or compact form), one per line. */
const contacts = (text) => text.split('\r\n\r\n')[0].split('\r\n').filter((l) => /^(contact|m):/i.test(l)).join('\n');
const body = (text) => text.slice(text.indexOf('\r\n\r\n') + 4);

/** The Via of a registrar behind which our REGISTER seems to come from `host:port`. */
const natVia = (host, port) => (v) => v.replace(/;rport\b(=\d+)?/, '').replace(/;received=[^;]*/, '') + `;received=${host};rport=${port}`;

/** A registrar (and proxy: INVITEs of a registering account go through it) answering 486 to
 * INVITEs, with `via` rewriting the top Via of its answers; and a server with account alice. */
async function natSetup({ via, sip = {}, proto = 'udp' } = {}) {
  const registrar = await startResponder({ proto, via, answer: (r) => (r.method === 'INVITE' ? 486 : 200) });
  const srv = await startServer({ config: { sip, 'account alice': {
    uri: 'sip:alice@127.0.0.1', registrar: `127.0.0.1:${registrar.port}`, transport: proto } } });
  return { registrar, srv };
}

const registers = (registrar) => registrar.requests().filter((r) => r.method === 'REGISTER');
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

// A few at a time: each test starts a server on ports picked by freePort(), and many at once
// race each other's ephemeral ports ("address already in use" at startup).
describe('NAT', { concurrency: 4 }, () => {
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

  test('with learn_public_address = false a registrar that sees another address only gets a NAT warning', async () => {
    const { registrar, srv } = await natSetup({ via: natVia('192.0.2.44', 6000), sip: { learn_public_address: false } });
    try {
      await srv.waitForLog(/the registrar sees us as 192\.0\.2\.44:6000 \(received\/rport\): behind NAT\?.*set \[sip\] public_ip = 192\.0\.2\.44/);
      await settle(500);
      assert.equal(registers(registrar).length, 1, 'no second REGISTER');
      assert.doesNotMatch(srv.logs(), /learned public address/);
      const invite = await inviteSeenBy(srv, registrar, '127.0.0.1', 'alice');
      assert.match(header(invite, 'Contact'), new RegExp(`@127\\.0\\.0\\.1:${srv.sipPort}>`));
      assert.ok(!body(invite).includes('192.0.2.44'), body(invite));
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('the address a registrar reports (received/rport) is learned and registered, the old binding removed', async () => {
    const { registrar, srv } = await natSetup({ via: natVia('127.0.0.5', 40000) });
    try {
      await srv.waitForLog(/\[reg alice\].*learned public address 127\.0\.0\.5:40000 from registrar of account alice/);
      const deadline = Date.now() + 3000;
      while (registers(registrar).length < 2 && Date.now() < deadline) await settle(50);
      const [first, second] = registers(registrar);
      assert.match(contacts(first.text), new RegExp(`<sip:alice@127\\.0\\.0\\.1:${srv.sipPort}>`));
      assert.ok(second, 'no REGISTER with the learned address');
      const listed = contacts(second.text);
      assert.match(listed, /<sip:alice@127\.0\.0\.5:40000>(?!;expires=0)/);
      assert.match(listed, new RegExp(`<sip:alice@127\\.0\\.0\\.1:${srv.sipPort}>;expires=0`), listed);
      await settle(500);
      assert.equal(registers(registrar).length, 2, 'the same answer again must not re-REGISTER');
      assert.equal(srv.logs().match(/learned public address/g).length, 1, 'logged once');
      assert.doesNotMatch(srv.logs(), /the registrar sees us as/);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('an INVITE of the account names the learned address: Contact, SDP o= and c=', async () => {
    const { registrar, srv } = await natSetup({ via: natVia('127.0.0.5', 40000) });
    try {
      await srv.waitForLog(/learned public address 127\.0\.0\.5:40000/);
      const invite = await inviteSeenBy(srv, registrar, '127.0.0.1', 'alice');
      assert.match(header(invite, 'Contact'), /<sip:alice@127\.0\.0\.5:40000>/);
      const sdp = body(invite);
      assert.match(sdp, /^c=IN IP4 127\.0\.0\.5\r?$/m);
      assert.match(sdp, /^o=\S+ \S+ \S+ IN IP4 127\.0\.0\.5\r?$/m);
      // The direct account has no registrar: nothing learned applies to it.
      registrar.requests().length = 0;
      const direct = await inviteSeenBy(srv, registrar, '127.0.0.1', 'direct');
      assert.ok(!direct.includes('127.0.0.5'), direct);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('an inbound call to the account is answered with the learned address: 180 and 200 Contact, SDP o= and c=', async () => {
    const { registrar, srv } = await natSetup({ via: natVia('127.0.0.5', 40000) });
    const c = await SignalClient.connect(srv.wsUrl);
    let sipp;
    try {
      await c.next('welcome');
      await srv.waitForLog(/learned public address 127\.0\.0\.5:40000/);
      sipp = await startSipp('uac-invite.xml', { mayExit: true,
        args: ['-m', '1', '-t', 'u1', '-s', 'alice', `127.0.0.1:${srv.sipPort}`] });
      const incoming = await c.next('incoming', 8000);
      assert.equal(incoming.account, 'alice');
      c.send({ type: 'accept', call_id: incoming.call_id, sdp: OFFER.replace('a=setup:actpass', 'a=setup:active') });
      for (let i = 0; i < 100 && !/SIP\/2\.0 200 OK/.test(sipp.messages()); i++) await settle(50);
      const ok = sipp.messages().split(/\r?\n\s*\r?\n(?=SIP\/2\.0|[A-Z]+ sip:)/).find((m) => /SIP\/2\.0 200 OK/.test(m) && /CSeq: \d+ INVITE/.test(m));
      assert.ok(ok, sipp.messages());
      assert.match(ok, /Contact: <sip:alice@127\.0\.0\.5:40000>/);
      assert.match(ok, /^c=IN IP4 127\.0\.0\.5\r?$/m);
      assert.match(ok, /^o=\S+ \S+ \S+ IN IP4 127\.0\.0\.5\r?$/m);
      const ringing = sipp.messages().split(/\r?\n\s*\r?\n(?=SIP\/2\.0|[A-Z]+ sip:)/).find((m) => /SIP\/2\.0 180 /.test(m));
      assert.ok(ringing, sipp.messages());
      assert.match(ringing, /Contact: <sip:alice@127\.0\.0\.5:40000>/);
    } finally {
      await c.close();
      await sipp?.stop();
      await srv.stop();
      await registrar.stop();
    }
  });

  test('with public_ip configured nothing is learned', async () => {
    const { registrar, srv } = await natSetup({ via: natVia('127.0.0.5', 40000), sip: { public_ip: PUBLIC } });
    try {
      await srv.waitForLog(/\[reg alice\].* registered/);
      await settle(500);
      assert.equal(registers(registrar).length, 1);
      assert.doesNotMatch(srv.logs(), /learned public address|the registrar sees us as/);
      const invite = await inviteSeenBy(srv, registrar, '127.0.0.1', 'alice');
      assert.match(header(invite, 'Contact'), new RegExp(`<sip:alice@${PUBLIC.replaceAll('.', '\\.')}:${srv.sipPort}>`));
      assert.match(body(invite), /^c=IN IP4 127\.0\.0\.9\r?$/m);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('a registrar that sees our own address and port changes nothing', async () => {
    const own = (v) => natVia('127.0.0.1', Number(/:(\d+)/.exec(v.split(' ')[1])[1]))(v);
    const { registrar, srv } = await natSetup({ via: own });
    try {
      await srv.waitForLog(/\[reg alice\].* registered/);
      await settle(500);
      assert.equal(registers(registrar).length, 1);
      assert.doesNotMatch(srv.logs(), /learned public address|the registrar sees us as/);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('a registrar that sees our own address again (NAT gone) takes the account back to it', async () => {
    let n = 0;
    const own = (v) => natVia('127.0.0.1', Number(/:(\d+)/.exec(v.split(' ')[1])[1]))(v);
    const { registrar, srv } = await natSetup({ via: (v) => (n++ === 0 ? natVia('127.0.0.5', 40000)(v) : own(v)) });
    try {
      await srv.waitForLog(/registrar of account alice sees our own address again: public address 127\.0\.0\.5:40000 forgotten/);
      const invite = await inviteSeenBy(srv, registrar, '127.0.0.1', 'alice');
      assert.match(header(invite, 'Contact'), new RegExp(`<sip:alice@127\\.0\\.0\\.1:${srv.sipPort}>`));
      assert.ok(!invite.includes('127.0.0.5'), invite);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('with a wildcard listen (sofia\'s own Contact) the learned address replaces it, and the local one comes back', async () => {
    let n = 0;
    const own = (v) => natVia('127.0.0.1', Number(/:(\d+)/.exec(v.split(' ')[1])[1]))(v);
    const registrar = await startResponder({ via: (v) => (n++ === 0 ? natVia('127.0.0.5', 40000)(v) : own(v)) });
    const sipPort = await freePort();
    const srv = await startServer({ config: { sip: { listen: `0.0.0.0:${sipPort}` }, 'account alice': {
      uri: 'sip:alice@127.0.0.1', registrar: `127.0.0.1:${registrar.port}`, expires: 10 } } });
    try {
      await srv.waitForLog(/public address 127\.0\.0\.5:40000 forgotten/);
      const [first, second] = registers(registrar);
      const local = /<sip:alice@127\.0\.0\.\d+:\d+>/.exec(contacts(first.text))?.[0];
      assert.ok(local && local.endsWith(`:${sipPort}>`), contacts(first.text));
      const listed = contacts(second.text);
      assert.match(listed, /<sip:alice@127\.0\.0\.5:40000>/);
      assert.ok(listed.includes(`${local};expires=0`), listed);
      // A second change within 10 s of the first goes out with our next REGISTER: the refresh
      // (at half of the 10 s granted) here, else when the 10 s are up.
      let back;
      const deadline = Date.now() + 12000;
      while (!back && Date.now() < deadline) {
        back = registers(registrar).find((r) => contacts(r.text).includes('<sip:alice@127.0.0.5:40000>;expires=0'));
        if (!back) await settle(100);
      }
      assert.ok(back, `no REGISTER went back to the local Contact:\n${registers(registrar).map((r) => contacts(r.text)).join('\n--\n')}`);
      assert.ok(contacts(back.text).includes(local), contacts(back.text));
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('a registrar flapping between two addresses does not start a REGISTER storm', async () => {
    let n = 0;
    const flapping = (v) => (n++ % 2 === 0 ? natVia('127.0.0.5', 40000) : natVia('127.0.0.6', 40001))(v);
    const { registrar, srv } = await natSetup({ via: flapping });
    try {
      await srv.waitForLog(/learned public address 127\.0\.0\.6:40001/);
      await settle(1000);
      // The first change is registered at once; the next one within 10 s waits for them.
      assert.equal(registers(registrar).length, 2);
      assert.equal(srv.logs().match(/learned public address/g).length, 2);
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('over TCP only the address is learned: the Contact keeps our listening port', async () => {
    const { registrar, srv } = await natSetup({ proto: 'tcp', via: natVia('127.0.0.5', 40000) });
    try {
      await srv.waitForLog(new RegExp(`learned public address 127\\.0\\.0\\.5:${srv.sipPort} from registrar of account alice`));
      const deadline = Date.now() + 3000;
      while (registers(registrar).length < 2 && Date.now() < deadline) await settle(50);
      const second = registers(registrar)[1];
      assert.ok(second, 'no REGISTER with the learned address');
      assert.match(contacts(second.text), new RegExp(`<sip:alice@127\\.0\\.0\\.5:${srv.sipPort};transport=tcp>`));
    } finally {
      await srv.stop();
      await registrar.stop();
    }
  });

  test('over TCP another source port alone is no NAT (every connection has its own)', async () => {
    const { registrar, srv } = await natSetup({ proto: 'tcp', via: natVia('127.0.0.1', 55555) });
    try {
      await srv.waitForLog(/\[reg alice\].* registered/);
      await settle(500);
      assert.equal(registers(registrar).length, 1);
      assert.doesNotMatch(srv.logs(), /learned public address/);
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
