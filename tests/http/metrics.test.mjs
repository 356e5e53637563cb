// GET /metrics: Prometheus text format (every sample has HELP and TYPE), the counters that
// operators alert on move when their events happen, and only [server] metrics_allow may read it.
// Sources other than 127.0.0.1 are real: lo answers for all of 127.0.0.0/8, so a client socket
// bound to 127.0.0.2 reaches the server with that source address (tests run in a namespace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { startServer, tabphoneBin, runTabphone, fetchRaw } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';

/** GET over plain HTTP from a chosen source address. */
function get(url, { localAddress, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, localAddress, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * Parses Prometheus text exposition strictly enough for a test: returns
 * { samples: Map("name{labels}" -> number), help: Map, type: Map } and throws on a sample
 * whose metric has no HELP/TYPE before it, on a malformed line, or on a duplicate series.
 */
function parseMetrics(text) {
  const help = new Map();
  const type = new Map();
  const samples = new Map();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.split('\n').slice(0, -1)) {
    let m;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/))) {
      assert.ok(!help.has(m[1]), `second HELP for ${m[1]}`);
      help.set(m[1], m[2]);
    } else if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      assert.ok(!type.has(m[1]), `second TYPE for ${m[1]}`);
      type.set(m[1], m[2]);
    } else if ((m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/))) {
      const [, name, labels = '', value] = m;
      assert.ok(help.has(name), `sample ${name} has no # HELP before it`);
      assert.ok(type.has(name), `sample ${name} has no # TYPE before it`);
      if (type.get(name) === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
      const key = name + labels;
      assert.ok(!samples.has(key), `duplicate series ${key}`);
      assert.ok(Number.isFinite(Number(value)), `${key} value ${value}`);
      samples.set(key, Number(value));
    } else {
      assert.fail(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
  }
  for (const name of type.keys()) {
    assert.ok([...samples.keys()].some((k) => k === name || k.startsWith(`${name}{`)), `${name} has no sample`);
  }
  return { samples, help, type };
}

async function metrics(srv) {
  const r = await get(`${srv.httpUrl}/metrics`);
  assert.equal(r.status, 200, r.body);
  return parseMetrics(r.body).samples;
}

let bobHash;
function hashPassword(pw) {
  const r = spawnSync(tabphoneBin, ['--hash-password'], { input: `${pw}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}
function usersConfig(server = {}, bob = {}) {
  bobHash ??= hashPassword('bob-secret-pw');
  return {
    server,
    'account office': { uri: 'sip:1001@127.0.0.1', register: 'no' },
    'user bob': { password_hash: bobHash, accounts: '*', ...bob },
  };
}

async function attemptLogin(srv, user, password) {
  const c = await SignalClient.connect(srv.wsUrl);
  const r = await c.request({ type: 'login', user, password });
  c.ws.terminate();
  return r;
}

test('metrics: Prometheus text with HELP and TYPE for every sample, counters and gauges', async () => {
  const srv = await startServer();
  try {
    const r = await get(`${srv.httpUrl}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.equal(r.headers['cache-control'], 'no-store');
    const { samples, type } = parseMetrics(r.body);
    for (const name of ['logins', 'logins_failed', 'logins_locked_out', 'login_lockouts',
      'sessions_refused', 'ws_abuse_closed', 'calls_outbound', 'calls_inbound', 'calls_failed',
      'calls_denied_dial_plan', 'calls_refused_limit', 'sip_scanner_refused',
      'sip_untrusted_source', 'rtp_timeouts', 'registration_failures']) {
      assert.equal(type.get(`tabphone_${name}_total`), 'counter', name);
      assert.equal(samples.get(`tabphone_${name}_total`), 0, `${name} starts at 0`);
    }
    for (const name of ['tabphone_sessions', 'tabphone_calls', 'tabphone_media_calls', 'tabphone_media_workers',
      'tabphone_rtp_port_pairs_in_use', 'tabphone_rtp_port_pairs']) {
      assert.equal(type.get(name), 'gauge', name);
    }
    assert.equal(samples.get('tabphone_calls'), 0);
    assert.ok(samples.get('tabphone_media_workers') >= 1);
    assert.equal(samples.get('tabphone_rtp_port_pairs_in_use'), 0);
    assert.equal(samples.get('tabphone_rtp_port_pairs'), 10000); /* 20000-39999 */
    for (const state of ['unregistered', 'registering', 'registered', 'failed']) {
      assert.equal(samples.get(`tabphone_registrations{state="${state}"}`), 0, state);
    }
    // Over TLS too, and HEAD gets the headers only.
    const tls = await fetchRaw(`${srv.httpsUrl}/metrics`);
    assert.equal(tls.status, 200);
    assert.match(tls.body, /^# HELP tabphone_/m);
    const head = await get(`${srv.httpUrl}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  } finally { await srv.stop(); }
});

test('metrics: the sessions gauge follows open WebSockets', async () => {
  const srv = await startServer();
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    await c.next('welcome');
    let s = await metrics(srv);
    assert.equal(s.get('tabphone_sessions'), 1);
    assert.equal(s.get('tabphone_calls'), 0);
    await c.close();
    for (let i = 0; i < 20 && s.get('tabphone_sessions') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = await metrics(srv);
    }
    assert.equal(s.get('tabphone_sessions'), 0);
  } finally { await srv.stop(); }
});

test('metrics: failed logins, lockouts and refusals during a lockout are counted (and logged once)', async () => {
  const srv = await startServer({ config: usersConfig({ login_max_failures: 3, login_lockout: 30 }) });
  try {
    const before = await metrics(srv);
    assert.equal((await attemptLogin(srv, 'bob', 'wrong-1')).code, 'login_failed');
    assert.equal((await attemptLogin(srv, 'bob', 'wrong-2')).code, 'login_failed');
    let s = await metrics(srv);
    assert.equal(s.get('tabphone_logins_failed_total') - before.get('tabphone_logins_failed_total'), 2);
    assert.equal(s.get('tabphone_login_lockouts_total'), 0);

    assert.equal((await attemptLogin(srv, 'bob', 'wrong-3')).code, 'login_failed'); // starts the lock
    assert.equal((await attemptLogin(srv, 'bob', 'bob-secret-pw')).code, 'login_failed'); // locked
    s = await metrics(srv);
    assert.equal(s.get('tabphone_logins_failed_total'), 3);
    assert.equal(s.get('tabphone_login_lockouts_total'), 1);
    assert.equal(s.get('tabphone_logins_locked_out_total'), 1);
    assert.equal(s.get('tabphone_logins_total'), 0);

    // The lock is in the log: one line when it starts, naming the user, never a password.
    await srv.waitForLog(/login locked for user 'bob' for 30 s after 3 failures/);
    assert.equal(srv.logs().match(/login locked for user 'bob'/g).length, 1);
    assert.doesNotMatch(srv.logs(), /wrong-[123]|bob-secret-pw/);
  } finally { await srv.stop(); }
});

test('metrics: a successful login is counted', async () => {
  const srv = await startServer({ config: usersConfig() });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    assert.equal((await c.request({ type: 'login', user: 'bob', password: 'bob-secret-pw' })).type, 'welcome');
    const s = await metrics(srv);
    assert.equal(s.get('tabphone_logins_total'), 1);
    assert.equal(s.get('tabphone_logins_failed_total'), 0);
    await c.close();
  } finally { await srv.stop(); }
});

// A WebRTC-style offer good enough for the echo destination (no media is set up for real).
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

test('metrics: dial plan denials and call limits are counted', async () => {
  const srv = await startServer({ config: usersConfig({}, { dial_deny: '900*', max_calls: 1 }) });
  try {
    const c = await SignalClient.connect(srv.wsUrl);
    assert.equal((await c.request({ type: 'login', user: 'bob', password: 'bob-secret-pw' })).type, 'welcome');
    c.send({ type: 'call', call_id: 'd1', to: 'sip:900123@127.0.0.1', from_account: 'direct', sdp: OFFER });
    assert.equal((await c.next((m) => m.type === 'hangup' && m.call_id === 'd1')).reason, 'not_allowed_by_dial_plan');
    c.send({ type: 'call', call_id: 'e1', to: 'echo', sdp: OFFER });
    assert.equal((await c.next((m) => m.call_id === 'e1' && m.type !== 'candidate')).type, 'answered');
    c.send({ type: 'call', call_id: 'e2', to: 'echo', sdp: OFFER });
    assert.equal((await c.next((m) => m.type === 'hangup' && m.call_id === 'e2')).reason, 'too_many_calls');
    const s = await metrics(srv);
    assert.equal(s.get('tabphone_calls_denied_dial_plan_total'), 1);
    assert.equal(s.get('tabphone_calls_refused_limit_total'), 1);
    assert.equal(s.get('tabphone_calls'), 1, 'the echo call is live');
    await c.close();
  } finally { await srv.stop(); }
});

test('metrics: sessions over max_sessions_per_ip and abusive sockets are counted', async () => {
  const srv = await startServer({ config: { server: { max_sessions_per_ip: 1 } } });
  try {
    const a = await SignalClient.connect(srv.wsUrl);
    await a.next('welcome');
    const extra = await SignalClient.connect(srv.wsUrl);
    assert.equal((await extra.closed).code, 1008);
    for (let i = 0; i < 30; i++) a.send('not json');
    assert.equal((await a.closed).code, 1008);
    const s = await metrics(srv);
    assert.equal(s.get('tabphone_sessions_refused_total'), 1);
    assert.equal(s.get('tabphone_ws_abuse_closed_total'), 1);
  } finally { await srv.stop(); }
});

test('metrics: SIP scanner probes and unknown users are counted', async () => {
  const srv = await startServer({ config: { sip: { direct_account: 'no' } } });
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const replies = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const request = (method, user, ua, n) => [
      `${method} sip:${user}@127.0.0.1:${srv.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-metrics-${n};rport`,
      'Max-Forwards: 70', `From: <sip:probe@127.0.0.1>;tag=m${n}`, `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: metrics-${n}@127.0.0.1`, `CSeq: 1 ${method}`, `Contact: <sip:probe@127.0.0.1:${port}>`,
      `User-Agent: ${ua}`, 'Content-Length: 0', '', ''].join('\r\n');
    sock.send(request('INVITE', '100', 'friendly-scanner', 1), srv.sipPort, '127.0.0.1');
    sock.send(request('INVITE', 'nobody', 'Asterisk PBX 20', 2), srv.sipPort, '127.0.0.1');
    for (let i = 0; i < 60 && !(replies.some((r) => / 403 /.test(r)) && replies.some((r) => / 404 /.test(r))); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(replies.some((r) => r.startsWith('SIP/2.0 403')), replies.join('\n'));
    assert.ok(replies.some((r) => r.startsWith('SIP/2.0 404')), replies.join('\n'));
    const s = await metrics(srv);
    assert.equal(s.get('tabphone_sip_scanner_refused_total'), 2);
  } finally { sock.close(); await srv.stop(); }
});

test('metrics: an inbound call the tab rejects is not a failed call', async () => {
  const srv = await startServer({ config: { 'account office': { uri: 'sip:office@127.0.0.1', register: 'no' } } });
  const sock = dgram.createSocket('udp4');
  const c = await SignalClient.connect(srv.wsUrl);
  try {
    await c.next('welcome');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const replies = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=audio ${port + 2} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    sock.send([`INVITE sip:office@127.0.0.1:${srv.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-reject-1;rport`, 'Max-Forwards: 70',
      'From: "Caller" <sip:caller@127.0.0.1>;tag=r1', 'To: <sip:office@127.0.0.1>',
      'Call-ID: metrics-reject@127.0.0.1', 'CSeq: 1 INVITE', `Contact: <sip:caller@127.0.0.1:${port}>`,
      'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'),
    srv.sipPort, '127.0.0.1');
    const incoming = await c.next('incoming', 5000);
    c.send({ type: 'reject', call_id: incoming.call_id });
    for (let i = 0; i < 60 && !replies.some((r) => r.startsWith('SIP/2.0 486')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(replies.some((r) => r.startsWith('SIP/2.0 486')), replies.join('\n'));
    const s = await metrics(srv);
    assert.equal(s.get('tabphone_calls_inbound_total'), 1);
    assert.equal(s.get('tabphone_calls_failed_total'), 0);
  } finally { sock.close(); await c.close(); await srv.stop(); }
});

/** A UDP registrar that accepts user "good" (200) and refuses everyone else (403). */
async function fakeRegistrar() {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, rinfo) => {
    const text = m.toString();
    if (!text.startsWith('REGISTER ')) return;
    const lines = text.split('\r\n');
    const keep = lines.filter((l) => /^(Via|From|To|Call-ID|CSeq|Contact):/i.test(l));
    const ok = lines.some((l) => /^To:.*sip:good@/i.test(l));
    const head = ok ? 'SIP/2.0 200 OK' : 'SIP/2.0 403 Forbidden';
    const reply = [head, ...keep.map((l) => {
      if (/^To:/i.test(l) && !/tag=/.test(l)) return `${l};tag=reg`;
      if (/^Contact:/i.test(l)) return `${l};expires=3600`;
      return l;
    }), 'Content-Length: 0', '', ''].join('\r\n');
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, close: () => sock.close() };
}

test('metrics: registrations by state and failed REGISTERs', async () => {
  const reg = await fakeRegistrar();
  const account = (user) => ({ uri: `sip:${user}@127.0.0.1`, password: 'pw', registrar: `sip:127.0.0.1:${reg.port}` });
  // No retry of the refused account during the test (it would pass through "registering"), and
  // up to 15 s for both answers: a loaded CI machine is slow, not wrong.
  const srv = await startServer({
    config: { sip: { register_retry_min: 60 }, 'account good': account('good'), 'account bad': account('bad') },
  });
  try {
    let s;
    for (let i = 0; i < 300; i++) {
      s = await metrics(srv);
      if (s.get('tabphone_registrations{state="failed"}') === 1 && s.get('tabphone_registrations{state="registered"}') === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(s.get('tabphone_registrations{state="registered"}'), 1);
    assert.equal(s.get('tabphone_registrations{state="failed"}'), 1);
    assert.equal(s.get('tabphone_registrations{state="registering"}'), 0);
    assert.ok(s.get('tabphone_registration_failures_total') >= 1);
  } finally { await srv.stop(); reg.close(); }
});

test('metrics: 403 from a source outside metrics_allow, and a log line saying so', async () => {
  const srv = await startServer({ config: { server: { metrics_allow: '127.0.0.1/32, ::1' } } });
  try {
    const refused = await get(`${srv.httpUrl}/metrics`, { localAddress: '127.0.0.2' });
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.body, /tabphone_/);
    await srv.waitForLog(/peer=127\.0\.0\.2:\d+ refused \/metrics: source not in \[server\] metrics_allow/);
    // /healthz stays public, and the allowed source still gets the metrics.
    assert.equal((await get(`${srv.httpUrl}/healthz`, { localAddress: '127.0.0.2' })).status, 200);
    assert.equal((await get(`${srv.httpUrl}/metrics`)).status, 200);
  } finally { await srv.stop(); }
});

test('metrics: metrics_allow names sources by CIDR; an empty list turns /metrics off', async () => {
  let srv = await startServer({ config: { server: { metrics_allow: '127.0.0.2/32' } } });
  try {
    assert.equal((await get(`${srv.httpUrl}/metrics`)).status, 403, '127.0.0.1 is not in the list');
    assert.equal((await get(`${srv.httpUrl}/metrics`, { localAddress: '127.0.0.2' })).status, 200);
  } finally { await srv.stop(); }
  srv = await startServer({ config: { server: { metrics_allow: '' } } });
  try {
    assert.equal((await get(`${srv.httpUrl}/metrics`)).status, 403);
  } finally { await srv.stop(); }
});

test('metrics: a bad metrics_allow entry is a configuration error naming the key', async () => {
  const r = runTabphone(['--check-config'], { config: { server: { metrics_allow: '127.0.0.1, localhost' } } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /metrics_allow.*'localhost' is not a numeric address or CIDR prefix/);
});
