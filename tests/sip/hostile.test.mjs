// Hostile SIP (issue 5, "Bad input" and inbound screening): malformed or abusive SIP that reaches
// tabphone gets the right SIP answer, never crashes or hangs it, and leaves other calls alone.
//   - INVITEs with broken SDP bodies: 488 (or 400 when the message itself is malformed); no tab
//     hears about them;
//   - an over-long UDP message and a huge header, a never-ending TCP message: no crash, no hang
//     (the server keeps answering);
//   - unknown and unsupported methods: 405/501;
//   - unknown users at our own host: 404 also with [sip] direct_account = yes;
//   - an INVITE flood (sipp -r 200) against a full server: every INVITE refused cheaply (503),
//     thread count unchanged, and a call set up before it still takes re-INVITEs and BYE;
//     against an account a tab takes calls for, beyond [server] invite_rate: 503 at once.
// Raw UDP/TCP from node where sipp cannot express the message. Runs against the ASan build in CI
// (startServer fails the test on any sanitizer report).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, repoRoot, fetchRaw } from '../lib/server.mjs';
import { startSipp } from '../lib/sip-peers.mjs';
import { SignalClient } from '../lib/client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const short = !!process.env.TABPHONE_SKIP_LONG;

const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const GOOD_SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 6000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

let seq = 0;

/** A SIP request as text. body: string; extra: header lines; contentLength overrides the real one. */
function request({ method = 'INVITE', user = 'alice', srv, localPort, body = '', type = 'application/sdp',
  extra = [], contentLength }) {
  const n = ++seq;
  const ruri = user === null ? `sip:127.0.0.1:${srv.sipPort}` : `sip:${user}@127.0.0.1:${srv.sipPort}`;
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-hostile-${process.pid}-${n};rport`,
    'Max-Forwards: 70',
    `From: "Hostile" <sip:hostile@127.0.0.1:${localPort}>;tag=h${n}`,
    `To: <${ruri}>`,
    `Call-ID: hostile-${process.pid}-${n}@127.0.0.1`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:hostile@127.0.0.1:${localPort}>`,
    'User-Agent: tabphone-hostile-test',
    ...extra,
  ];
  if (body) lines.push(`Content-Type: ${type}`);
  lines.push(`Content-Length: ${contentLength ?? Buffer.byteLength(body)}`, '', body);
  return { text: lines.join('\r\n'), ruri, n };
}

/** Sends one request over UDP; resolves with every response (status + raw text) until a final
 * one or ms. A non-2xx final answer to an INVITE is ACKed, as a real UA would. */
async function udpRequest(srv, opts, ms = 4000) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const localPort = sock.address().port;
  const req = request({ ...opts, srv, localPort });
  const responses = [];
  const t0 = process.hrtime.bigint();
  let finalMs;
  const done = new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    sock.on('message', (msg) => {
      const text = msg.toString();
      const m = text.match(/^SIP\/2\.0 (\d{3})/);
      if (!m) return;
      responses.push({ status: Number(m[1]), text });
      if (Number(m[1]) >= 200 && finalMs === undefined) {
        finalMs = Number(process.hrtime.bigint() - t0) / 1e6;
        clearTimeout(t);
        resolve();
      }
    });
  });
  sock.send(req.text, srv.sipPort, '127.0.0.1');
  await done;
  const final = responses.find((r) => r.status >= 200);
  if (final && (opts.method ?? 'INVITE') === 'INVITE' && final.status >= 300) {
    const to = final.text.match(/^To: (.*)$/mi)?.[1] ?? `<${req.ruri}>`;
    const ack = [`ACK ${req.ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-hostile-${process.pid}-${req.n};rport`,
      'Max-Forwards: 70', `From: "Hostile" <sip:hostile@127.0.0.1:${localPort}>;tag=h${req.n}`,
      `To: ${to.trim()}`, `Call-ID: hostile-${process.pid}-${req.n}@127.0.0.1`, 'CSeq: 1 ACK',
      'Content-Length: 0', '', ''].join('\r\n');
    sock.send(ack, srv.sipPort, '127.0.0.1');
    await sleep(20);
  }
  sock.close();
  return { status: final?.status, responses, ms: finalMs };
}

/** The server is alive and its SIP stack answers: an OPTIONS gets some final answer. */
async function assertAlive(srv, what) {
  const r = await udpRequest(srv, { method: 'OPTIONS', user: 'alice' }, 3000);
  assert.ok(r.status >= 200, `no answer to OPTIONS after ${what}`);
  const h = await fetchRaw(`${srv.httpUrl}/healthz`);
  assert.equal(h.status, 200, `healthz after ${what}`);
}

const aliceAccount = { 'account alice': { uri: 'sip:alice@127.0.0.1', register: 'no' } };

test('INVITEs with broken SDP get 488 (400 when the message is malformed) and ring no tab', async () => {
  const srv = await startServer({ config: aliceAccount });
  try {
    // A tab that may take alice's calls (open mode): without one, the INVITE would get 480
    // before its body is even looked at.
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    const bodies = {
      'not SDP at all': 'hello, this is not SDP\r\n',
      'no m= line': 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n',
      'port not a number': GOOD_SDP.replace('m=audio 6000', 'm=audio sixthousand'),
      'no codec we know': GOOD_SDP.replace('RTP/AVP 0', 'RTP/AVP 99').replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:99 X-UNKNOWN/8000'),
      'binary junk': Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256)).toString('latin1'),
      'no connection address': GOOD_SDP.replace('c=IN IP4 127.0.0.1\r\n', ''),
    };
    for (const [what, body] of Object.entries(bodies)) {
      const r = await udpRequest(srv, { body });
      assert.ok([488, 400].includes(r.status), `${what}: got ${r.status}`);
    }
    // A Content-Length beyond the body: a framing error for sofia (400), or dropped; no crash.
    const truncated = await udpRequest(srv, { body: GOOD_SDP, contentLength: 5000 }, 2000);
    assert.ok(truncated.status === undefined || truncated.status === 400, `truncated: ${truncated.status}`);
    // An SDP body labelled as something else: refused, not parsed as SDP.
    const wrongType = await udpRequest(srv, { body: GOOD_SDP, type: 'text/plain' });
    assert.ok([415, 488, 400].includes(wrongType.status), `text/plain body: ${wrongType.status}`);
    assert.ok(!c.received.some((m) => m.type === 'incoming'),
      `a tab was rung: ${JSON.stringify(c.received.filter((m) => m.type === 'incoming'))}`);
    await assertAlive(srv, 'broken SDP');
    await c.close();
  } finally { await srv.stop(); }
});

test('an over-long message, a huge header and a never-ending TCP message: no crash, no hang', async () => {
  const srv = await startServer({ config: aliceAccount });
  try {
    // UDP: 60 KB of header in one datagram (sofia's limit decides: an error answer or a drop).
    const huge = await udpRequest(srv, { body: GOOD_SDP, extra: [`X-Junk: ${'J'.repeat(60000)}`] }, 2000);
    assert.ok(huge.status === undefined || huge.status >= 400, `huge header: ${huge.status}`);
    // 2000 header lines.
    const many = await udpRequest(srv, { body: GOOD_SDP,
      extra: Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${i}`) }, 2000);
    assert.ok(many.status === undefined || many.status >= 400, `many headers: ${many.status}`);
    await assertAlive(srv, 'UDP over-long messages');

    // TCP: a request line and 4 MB of one header that never ends. The server must go on
    // serving others meanwhile, and drop or answer this connection.
    const sock = net.connect(srv.sipPort, '127.0.0.1');
    await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
    let closed = false;
    sock.on('close', () => { closed = true; });
    sock.on('error', () => {});
    sock.write(`INVITE sip:alice@127.0.0.1:${srv.sipPort} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-big\r\nX-Junk: `);
    const chunk = 'K'.repeat(64 * 1024);
    for (let i = 0; i < 64 && !closed; i++) {
      if (!sock.write(chunk)) await Promise.race([new Promise((r) => sock.once('drain', r)), sleep(500)]);
      if (i % 16 === 0) await assertAlive(srv, `${i * 64} KB of a TCP header`);
    }
    await assertAlive(srv, 'a 4 MB TCP header');
    console.log(`# 4 MB TCP header: connection ${closed ? 'closed by the server' : 'still open'}`);
    sock.destroy();
  } finally { await srv.stop(); }
});

test('unknown and unsupported methods get 405 or 501', async () => {
  const srv = await startServer({ config: aliceAccount });
  try {
    const got = {};
    for (const method of ['FROBNICATE', 'PUBLISH', 'X-ATTACK']) {
      const r = await udpRequest(srv, { method });
      got[method] = r.status;
      assert.ok([405, 501].includes(r.status), `${method}: ${r.status}`);
    }
    console.log(`# unknown methods: ${JSON.stringify(got)}`);
    await assertAlive(srv, 'unknown methods');
  } finally { await srv.stop(); }
});

test('unknown users at our host get 404 with direct_account = yes; known ones 480 (no tab)', async () => {
  const srv = await startServer({ config: { ...aliceAccount, sip: { direct_account: 'yes' } } });
  try {
    for (const user of ['nobody', '100', 'admin', 'alice2']) {
      const r = await udpRequest(srv, { user, body: GOOD_SDP });
      assert.equal(r.status, 404, `${user}: ${r.status}`);
    }
    assert.equal((await udpRequest(srv, { user: 'alice', body: GOOD_SDP })).status, 480);
    // The direct account's own address (what its calls put in From) still reaches it.
    assert.equal((await udpRequest(srv, { user: 'tabphone', body: GOOD_SDP })).status, 480);
    assert.equal((await udpRequest(srv, { user: null, body: GOOD_SDP })).status, 480);
    // Figures only (timing is never pass/fail): answer times for unknown vs known-without-tab.
    // Interleaved, after a warm-up, so that neither side pays for a cold start.
    let unknownMs = 0, knownMs = 0;
    for (let i = 0; i < 20; i++) {
      unknownMs += (await udpRequest(srv, { user: 'nobody', body: GOOD_SDP })).ms / 20;
      knownMs += (await udpRequest(srv, { user: 'alice', body: GOOD_SDP })).ms / 20;
    }
    console.log(`# mean answer time: unknown user (404) ${unknownMs.toFixed(2)} ms, known user without a tab (480) ${knownMs.toFixed(2)} ms`);
    // An unknown user costs no call state: it never gets as far as "incoming INVITE".
    assert.doesNotMatch(srv.logs(), /\[call sip:hostile[^\]]*\] incoming INVITE for account (?!alice|direct)/);
  } finally { await srv.stop(); }
});

function procStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKb: Number(text.match(/^VmRSS:\s+(\d+)/m)[1]), threads: Number(text.match(/^Threads:\s+(\d+)/m)[1]) };
}

test('an INVITE flood is refused cheaply (503) and a call set up before it goes on', async () => {
  const rate = 200;
  const seconds = short ? 2 : 4;
  const far = await startSipp('uas-hold.xml');
  // max_calls = 1: the call made first fills the server, so every flood INVITE meets the global
  // limit before any tab, media or SDP work (signal/hub.c).
  const srv = await startServer({ config: { ...aliceAccount, server: { max_calls: 1 } } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-flood-'));
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    c.send({ type: 'call', call_id: 'kept', to: `sip:bob@127.0.0.1:${far.port}`, from_account: 'direct', sdp: OFFER });
    const answered = await c.next((m) => m.call_id === 'kept' && (m.type === 'answered' || m.type === 'hangup'), 8000);
    assert.equal(answered.type, 'answered', JSON.stringify(answered));
    const before = procStatus(srv.child.pid);

    const trace = path.join(dir, 'messages.log');
    const total = rate * seconds;
    const flood = spawn('sipp', ['-sf', path.join(repoRoot, 'tests/sip/scenarios/hostile-flood.xml'),
      '-s', 'alice', `127.0.0.1:${srv.sipPort}`, '-i', '127.0.0.1', '-p', '0', '-t', 'u1',
      '-r', String(rate), '-m', String(total), '-l', String(total), '-nostdin', '-timeout', '30s',
      '-trace_msg', '-message_file', trace], { cwd: dir, stdio: 'ignore' });
    const t0 = Date.now();
    const code = await new Promise((r) => flood.on('exit', r));
    const floodMs = Date.now() - t0;
    const messages = fs.readFileSync(trace, 'utf8');
    const finals = [...messages.matchAll(/^SIP\/2\.0 ([2-6]\d\d)/gm)].map((m) => Number(m[1]));
    const counts = {};
    for (const s of finals) counts[s] = (counts[s] || 0) + 1;
    const after = procStatus(srv.child.pid);
    console.log(`# flood: ${total} INVITEs at ${rate}/s in ${floodMs} ms, sipp exit ${code}; answers ${JSON.stringify(counts)}; ` +
      `RSS ${before.rssKb} -> ${after.rssKb} kB, threads ${before.threads} -> ${after.threads}`);
    assert.ok(!finals.some((s) => s < 300), 'a flood INVITE was answered 2xx');
    assert.ok((counts[503] || 0) >= total * 0.95, `503s: ${JSON.stringify(counts)}`);
    assert.ok(messages.includes('Retry-After:'), 'the 503s carry Retry-After');
    assert.equal(after.threads, before.threads, 'the flood started threads');
    assert.ok(after.rssKb - before.rssKb < 64 * 1024, `RSS grew by ${after.rssKb - before.rssKb} kB`);
    assert.ok(!c.received.some((m) => m.type === 'incoming'), 'a flood INVITE rang the tab');

    // The call made before the flood still works: hold and resume are re-INVITEs the far end
    // answers, hangup is a BYE it receives (uas-hold.xml checks each).
    c.send({ type: 'hold', call_id: 'kept' });
    const held = await c.next((m) => m.call_id === 'kept' && m.type === 'call_state' && m.state === 'held', 8000);
    assert.ok(held);
    c.send({ type: 'resume', call_id: 'kept' });
    await c.next((m) => m.call_id === 'kept' && m.type === 'call_state' && m.state === 'active', 8000);
    c.send({ type: 'hangup', call_id: 'kept' });
    await c.next((m) => m.call_id === 'kept' && m.type === 'hangup', 8000);
    const farExit = await Promise.race([far.exited, sleep(5000).then(() => null)]);
    assert.equal(farExit?.code, 0, `the far end's scenario (re-INVITEs, BYE): ${far.output()}`);
    await c.close();
  } finally {
    await srv.stop();
    await far.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an INVITE flood at an account a tab takes calls for: beyond [server] invite_rate, 503 at once', async () => {
  const rate = 100;
  const seconds = 2;
  const inviteRate = 10; // per 10 s: a burst of 10, then one a second
  const srv = await startServer({ config: { ...aliceAccount, server: { invite_rate: inviteRate } } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabphone-flood-'));
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    // The tab turns every call down (486), so each admitted INVITE ends too.
    let rung = 0;
    c.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'incoming') { rung++; c.send({ type: 'reject', call_id: m.call_id, code: 486 }); }
    });
    const total = rate * seconds;
    const trace = path.join(dir, 'messages.log');
    const flood = spawn('sipp', ['-sf', path.join(repoRoot, 'tests/sip/scenarios/hostile-flood.xml'),
      '-s', 'alice', `127.0.0.1:${srv.sipPort}`, '-i', '127.0.0.1', '-p', '0', '-t', 'u1',
      '-r', String(rate), '-m', String(total), '-l', String(total), '-nostdin', '-timeout', '30s',
      '-trace_msg', '-message_file', trace], { cwd: dir, stdio: 'ignore' });
    await new Promise((r) => flood.on('exit', r));
    const finals = [...fs.readFileSync(trace, 'utf8').matchAll(/^SIP\/2\.0 ([2-6]\d\d)/gm)].map((m) => Number(m[1]));
    const counts = {};
    for (const s of finals) counts[s] = (counts[s] || 0) + 1;
    console.log(`# flood at a ringing account: ${total} INVITEs at ${rate}/s, invite_rate ${inviteRate}; answers ${JSON.stringify(counts)}; tab rung ${rung} times`);
    const admitted = inviteRate + seconds + 2; // burst + refill during the flood (+ slack)
    assert.ok(rung <= admitted, `the tab was rung ${rung} times`);
    assert.ok((counts[503] || 0) >= total - admitted, JSON.stringify(counts));
    await srv.waitForLog(/INVITE from .* refused \(503\): more than 10 INVITEs for this account in 10 s/);
    // One log line per flood window, not one per INVITE.
    assert.ok((srv.logs().match(/more than 10 INVITEs for this account/g) || []).length <= 2);
    await c.close();
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
