// OPTIONS screening (issue 5 "SIP scanners"): sofia-sip used to answer every OPTIONS 200 by itself,
// so SIPVicious svmap's default probe (OPTIONS, User-Agent friendly-scanner) learned that a SIP
// server with our User-Agent is here. Now OPTIONS goes through our screening: a scanner User-Agent
// gets the same cheap 403 as a scanner INVITE (counted in sip_scanner_refused); a 403 rather than
// silence, so the answer costs the same as every other refusal and a retransmitting scanner is
// answered from the transaction instead of re-screened. Everyone else (a registrar's keepalive, a
// PBX's qualify) still gets 200 with Allow and Accept. An OPTIONS for a trunk with
// trusted_sources from elsewhere gets 403 like such an INVITE (counted in sip_untrusted_source).
// Raw UDP from node is the client; 127.0.0.2 (all of 127/8 is loopback) is the untrusted source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startServer } from '../lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sends one OPTIONS from a fresh UDP socket; resolves with the final response text (or null). */
async function options(srv, { ua, user = '100', n, source = '127.0.0.1' }) {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise((r) => sock.bind(0, source, r));
    const port = sock.address().port;
    const replies = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const request = [
      `OPTIONS sip:${user}@127.0.0.1:${srv.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${source}:${port};branch=z9hG4bK-options-${n};rport`,
      'Max-Forwards: 70', `From: <sip:probe@127.0.0.1>;tag=o${n}`, `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: options-${n}@127.0.0.1`, 'CSeq: 1 OPTIONS', `Contact: <sip:probe@${source}:${port}>`,
      ...(ua ? [`User-Agent: ${ua}`] : []), 'Accept: application/sdp', 'Content-Length: 0', '', '',
    ].join('\r\n');
    sock.send(request, srv.sipPort, '127.0.0.1');
    const final = () => replies.find((r) => /^SIP\/2\.0 [2-6]\d\d /.test(r));
    for (let i = 0; i < 100 && !final(); i++) await sleep(50);
    return final() ?? null;
  } finally { sock.close(); }
}

async function counter(srv, name) {
  const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
  const m = text.match(new RegExp(`^tabphone_${name}_total (\\d+)$`, 'm'));
  assert.ok(m, text);
  return Number(m[1]);
}
const scannerRefused = (srv) => counter(srv, 'sip_scanner_refused');

test('OPTIONS from a scanner User-Agent gets 403 and is counted', async () => {
  const srv = await startServer();
  try {
    let n = 0;
    for (const ua of ['friendly-scanner', 'sipvicious 0.3']) {
      const reply = await options(srv, { ua, n: ++n });
      assert.ok(reply, `no answer to the ${ua} OPTIONS`);
      assert.match(reply, /^SIP\/2\.0 403 /, reply);
    }
    assert.equal(await scannerRefused(srv), 2);
  } finally { await srv.stop(); }
});

test('a normal OPTIONS (keepalive, qualify) gets 200 with Allow and Accept', async () => {
  const srv = await startServer();
  try {
    let n = 10;
    for (const [ua, user] of [['kamailio (5.6.3 (x86_64/linux))', 'tabphone'], [null, '100'],
      ['Asterisk PBX 20.5.0', 'office']]) {
      const reply = await options(srv, { ua, user, n: ++n });
      assert.ok(reply, `no answer to the OPTIONS from ${ua}`);
      assert.match(reply, /^SIP\/2\.0 200 /, reply);
      assert.match(reply, /^Allow:.*\bINVITE\b/mi, reply);
      assert.match(reply, /^Allow:.*\bOPTIONS\b/mi, reply);
      assert.match(reply, /^Accept:.*application\/sdp/mi, reply);
    }
    assert.equal(await scannerRefused(srv), 0);
  } finally { await srv.stop(); }
});

test('OPTIONS for a trunk from outside its trusted_sources gets 403; from inside 200', async () => {
  const srv = await startServer({
    config: { 'account trunk': { uri: 'sip:trunk@127.0.0.1', register: 'no', trusted_sources: '127.0.0.1' } },
  });
  try {
    const outside = await options(srv, { ua: 'Asterisk PBX 20.5.0', user: 'trunk', n: 21, source: '127.0.0.2' });
    assert.match(outside ?? 'no answer', /^SIP\/2\.0 403 /, outside);
    await srv.waitForLog(/\[trunk\] peer=127\.0\.0\.2:\d+ OPTIONS refused \(403\): source not in trusted_sources/);
    const inside = await options(srv, { ua: 'Asterisk PBX 20.5.0', user: 'trunk', n: 22 });
    assert.match(inside ?? 'no answer', /^SIP\/2\.0 200 /, inside);
    assert.equal(await counter(srv, 'sip_untrusted_source'), 1);
    assert.equal(await scannerRefused(srv), 0);
  } finally { await srv.stop(); }
});
