// The /ws endpoint as server/http shapes it: who may upgrade (path, Origin), how messages are
// framed (reassembly, 64 KiB limit, binary refused), and how connections end. The error replies
// themselves come from the session layer; here they prove that http reported the problem and
// kept the connection open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';

const MAX = 64 * 1024;

let srv;
before(async () => { srv = await startServer(); });
after(async () => {
  if (!srv) return;
  const r = await srv.stop();
  assert.equal(r.code, 0, srv.logs());
  assert.doesNotMatch(srv.logs(), /Sanitizer|runtime error/);
});

/** Resolves with the HTTP status of a refused upgrade, or 101 if it was accepted. */
function upgradeStatus(url, { origin, headers } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false, origin, headers });
    ws.once('open', () => { ws.close(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode); ws.terminate(); });
    ws.once('error', (e) => { if (!e.message.includes('Unexpected server response')) reject(e); });
  });
}

/** A JSON ping padded with spaces to exactly `size` bytes. */
function paddedPing(size, id) {
  const head = `{"type":"ping","id":${id}`;
  return head + ' '.repeat(size - head.length - 1) + '}';
}

async function openClient(url = srv.wsUrl, opts = {}) {
  const c = await SignalClient.connect(url, opts);
  await c.next('welcome'); // open mode: the session greets first
  return c;
}

async function assertStillOpen(c) {
  const pong = await c.request({ type: 'ping' });
  assert.equal(pong.type, 'pong');
}

test('an upgrade from the page\'s own origin is accepted (https and http listeners)', async () => {
  assert.equal(await upgradeStatus(srv.wsUrl, { origin: srv.httpsUrl }), 101);
  assert.equal(await upgradeStatus(`ws://127.0.0.1:${srv.httpPort}/ws`, { origin: srv.httpUrl }), 101);
});

test('an upgrade without Origin (not a browser) is accepted', async () => {
  assert.equal(await upgradeStatus(srv.wsUrl), 101);
});

test('an upgrade from another origin is refused with 403', async () => {
  for (const origin of ['https://evil.example', `http://127.0.0.1:${srv.httpsPort}`,
    `https://127.0.0.1:${srv.httpsPort + 1}`, 'null']) {
    assert.equal(await upgradeStatus(srv.wsUrl, { origin }), 403, origin);
  }
  // the plain listener's own origin is http://, not https://
  assert.equal(await upgradeStatus(`ws://127.0.0.1:${srv.httpPort}/ws`, { origin: `https://127.0.0.1:${srv.httpPort}` }), 403);
  await srv.waitForLog(/refused websocket: origin https:\/\/evil\.example not allowed/);
});

test('allowed_origins replaces the same-origin rule', async () => {
  const other = await startServer({ config: { server: { allowed_origins: 'https://phone.example.com, https://tabphone.test:8443' } } });
  try {
    assert.equal(await upgradeStatus(other.wsUrl, { origin: 'https://phone.example.com' }), 101);
    assert.equal(await upgradeStatus(other.wsUrl, { origin: 'https://tabphone.test:8443' }), 101);
    assert.equal(await upgradeStatus(other.wsUrl, { origin: other.httpsUrl }), 403);
    assert.equal(await upgradeStatus(other.wsUrl, { origin: 'https://evil.example' }), 403);
  } finally { await other.stop(); }
});

test('a WebSocket upgrade on any path but /ws is refused', async () => {
  for (const p of ['/', '/wss', '/ws/', '/index.html', '/healthz']) {
    assert.equal(await upgradeStatus(`wss://127.0.0.1:${srv.httpsPort}${p}`), 404, p);
  }
});

test('a query string on /ws is accepted and never logged', async () => {
  const c = await openClient(`${srv.wsUrl}?token=secret-query-token-123`);
  await assertStillOpen(c);
  await c.close();
  assert.doesNotMatch(srv.logs(), /secret-query-token-123/);
});

test('opening and closing a connection logs one line each, with the peer', async () => {
  const c = await openClient();
  const port = c.ws._socket.localPort;
  await c.close();
  await srv.waitForLog(new RegExp(`peer=127\\.0\\.0\\.1:${port} websocket open`));
  await srv.waitForLog(new RegExp(`peer=127\\.0\\.0\\.1:${port} websocket closed`));
});

test('a message of exactly 64 KiB is delivered', async () => {
  const c = await openClient();
  c.send(paddedPing(MAX, 7));
  const reply = await c.next((m) => m.id === 7 || m.type === 'error');
  assert.equal(reply.type, 'pong', JSON.stringify(reply));
  await c.close();
});

test('a message over 64 KiB gets frame_too_large and the connection stays open', async () => {
  const c = await openClient();
  c.send(paddedPing(MAX + 1, 8));
  const e = await c.next('error');
  assert.equal(e.code, 'frame_too_large');
  assert.equal(c.received.filter((m) => m.id === 8).length, 0, 'the oversized message was delivered');
  await assertStillOpen(c);
  await c.close();
});

test('a message over 64 KiB in fragments is reported once and the rest is discarded', async () => {
  const c = await openClient();
  const chunk = 'x'.repeat(30 * 1024);
  c.ws.send(`{"type":"ping","id":9,"pad":"${chunk}`, { fin: false });
  c.ws.send(chunk, { fin: false });
  c.ws.send(chunk, { fin: false });
  c.ws.send('"}', { fin: true });
  const e = await c.next('error');
  assert.equal(e.code, 'frame_too_large');
  await assertStillOpen(c);
  assert.equal(c.received.filter((m) => m.type === 'error').length, 0, 'reported more than once');
  await c.close();
});

test('a message sent in fragments is reassembled', async () => {
  const c = await openClient();
  c.ws.send('{"type":"pi', { fin: false });
  c.ws.send('ng","i', { fin: false });
  c.ws.send('d":11}', { fin: true });
  const reply = await c.next((m) => m.id === 11);
  assert.equal(reply.type, 'pong');
  await c.close();
});

test('a binary message gets binary_frame and the connection stays open', async () => {
  const c = await openClient();
  c.ws.send(Buffer.from('{"type":"ping","id":12}'), { binary: true });
  const e = await c.next('error');
  assert.equal(e.code, 'binary_frame');
  assert.equal(c.received.filter((m) => m.id === 12).length, 0);
  await assertStillOpen(c);
  await c.close();
});

test('many replies in a burst all arrive, in order', async () => {
  const c = await openClient();
  for (let i = 100; i < 200; i++) c.send({ type: 'ping', id: i });
  for (let i = 100; i < 200; i++) {
    const m = await c.next((x) => x.type === 'pong');
    assert.equal(m.id, i);
  }
  await c.close();
});

test('stopping the server closes open WebSockets with 1001 (going away)', async () => {
  const own = await startServer();
  const c = await openClient(own.wsUrl);
  const r = await own.stop('SIGTERM');
  assert.equal(r.code, 0, own.logs());
  const closed = await c.closed;
  assert.equal(closed.code, 1001);
  assert.doesNotMatch(own.logs(), /Sanitizer|runtime error/);
});
