// fake-server: a stand-in for tabphone's HTTP + /ws signaling, for browser tests of web/.
//
// Serves web/ with the same Content-Security-Policy the real server sends (so a CSP
// violation shows up as a console error in the test), and speaks the /ws JSON contract of
// design.md §4 just far enough for the dialer foundation: login (or open mode), welcome,
// register/unregister with scripted outcomes, registration pushes, ping/pong. Tests steer it
// (drop sockets, refuse upgrades) and read what the page sent from `received`.
//
// Calls: the fake has no media, so it never answers a call by itself. It records call,
// accept, reject, hangup, dtmf and candidate messages, and a test plays the server's side with
// `push()` (progress, answered, incoming, candidate, hangup), using fakeAnswerSdp() /
// fakeOfferSdp() for SDP that Chromium accepts (ICE can never complete against it: the UI
// states are what these tests check). `callsImplemented: false` answers every `call` with
// error not_implemented, as a server without calls does.
//
// Listens on 127.0.0.1 only.

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { WebSocketServer } from 'ws';

export const CSP = "default-src 'self'; connect-src 'self' wss: ws:; img-src 'self' data:; media-src 'self' blob:; "
  + "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
};

// Configured accounts the fake knows, with what a REGISTER for each one ends in.
export const DEFAULT_ACCOUNTS = [
  {
    name: 'office',
    uri: 'sip:1001@pbx.example.test',
    display_name: 'Office line',
    initial: { state: 'registered', code: 200, reason: 'OK', expires: 3600 },
    outcome: { state: 'registered', code: 200, reason: 'OK', expires: 3600 },
  },
  {
    name: 'trunk',
    uri: 'sip:4420@voip.example.test',
    display_name: 'Backup trunk',
    initial: { state: 'failed', code: 403, reason: 'Forbidden', expires: 0, retry_in: 300 },
    outcome: { state: 'failed', code: 403, reason: 'Forbidden', expires: 0, retry_in: 300 },
  },
  {
    name: 'lab',
    uri: 'sip:lab@lab.example.test',
    display_name: '',
    initial: { state: 'unregistered', code: 0, reason: '', expires: 0 },
    outcome: { state: 'registered', code: 200, reason: 'OK', expires: 600 },
  },
];

export async function startFakeServer({
  webRoot,
  openMode = false,
  users = { alice: 'wonderland' },
  accounts = DEFAULT_ACCOUNTS,
  byoAccounts = true,
  byoPassword = 'sip-secret', // a BYO register with this password succeeds, any other gets 401
  registerDelayMs = 150,
  callsImplemented = true,
} = {}) {
  const received = []; // every client message, in order: {conn, msg}
  const sockets = new Set();
  let connections = 0;
  let dropNext = 0; // upcoming connections to cut right after they open
  let refuseUpgrades = false;
  const sessions = []; // {conn, send, loggedIn}: logged-in sockets, newest last
  const waiters = new Set(); // re-checked whenever a message arrives

  const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/__blank') {
      // An empty page of this origin (a secure context: getUserMedia works) for a second
      // browser playing the far end of a call.
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP });
      res.end('<!doctype html><link rel="icon" href="data:,"><title>far end</title>');
      return;
    }
    let rel = decodeURIComponent(url.pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(webRoot, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(path.resolve(webRoot) + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await fs.readFile(file);
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Security-Policy': CSP }).end('not found');
    }
  });

  const wss = new WebSocketServer({ noServer: true });
  httpServer.on('upgrade', (req, socket, head) => {
    if (new URL(req.url, 'http://x').pathname !== '/ws' || refuseUpgrades) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
  });

  function onConnection(ws) {
    const conn = ++connections;
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    if (dropNext > 0) {
      dropNext--;
      setTimeout(() => ws.terminate(), 50);
      return;
    }
    const session = { loggedIn: openMode, user: openMode ? '' : null, byo: new Map() };
    const send = (msg) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));
    const withId = (req, msg) => (req.id !== undefined ? { ...msg, id: req.id } : msg);
    const error = (req, code, message) => send(withId(req, { type: 'error', code, message }));

    const welcome = (user) => ({
      type: 'welcome',
      session: `s${conn}`,
      user,
      accounts: accounts.map((a) => ({
        name: a.name, uri: a.uri, display_name: a.display_name, registers: true, direct: false, registration: { ...a.initial },
      })),
      ice_servers: [],
      byo_accounts: byoAccounts,
      open_mode: openMode,
    });

    const entry = { conn, send, ws };
    ws.on('close', () => {
      const i = sessions.indexOf(entry);
      if (i >= 0) sessions.splice(i, 1);
    });
    if (openMode) {
      sessions.push(entry);
      send(welcome(''));
    }

    ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(String(data));
      } catch {
        error({}, 'invalid_json', 'not JSON');
        return;
      }
      received.push({ conn, msg });
      for (const check of waiters) check();
      if (msg.type === 'ping') return send(withId(msg, { type: 'pong' }));
      if (msg.type === 'login') {
        if (session.loggedIn) return error(msg, 'already_logged_in', 'already logged in');
        if (users[msg.user] === undefined || users[msg.user] !== msg.password) {
          return error(msg, 'login_failed', 'wrong user or password');
        }
        session.loggedIn = true;
        sessions.push(entry);
        return send(withId(msg, welcome(msg.user)));
      }
      if (!session.loggedIn) return error(msg, 'not_logged_in', 'log in first');

      if (msg.type === 'register' && typeof msg.account === 'string') {
        const account = accounts.find((a) => a.name === msg.account);
        if (!account) return error(msg, 'unknown_account', `no account "${msg.account}"`);
        send(withId(msg, { type: 'registration', account: account.name, state: 'registering', code: 0, reason: '', expires: 0 }));
        setTimeout(() => send({ type: 'registration', account: account.name, ...account.outcome }), registerDelayMs);
        return;
      }
      if (msg.type === 'register' && typeof msg.uri === 'string') {
        if (!byoAccounts) return error(msg, 'byo_disabled', 'bring-your-own accounts are off');
        if (!/^sips?:[^@]+@.+/.test(msg.uri) || !msg.username || !msg.password) {
          return error(msg, 'invalid_field', 'uri, username and password are required');
        }
        session.byo.set(msg.uri, msg);
        send(withId(msg, { type: 'registration', uri: msg.uri, state: 'registering', code: 0, reason: '', expires: 0 }));
        const ok = msg.password === byoPassword;
        setTimeout(() => send(ok
          ? { type: 'registration', uri: msg.uri, state: 'registered', code: 200, reason: 'OK', expires: 300 }
          : { type: 'registration', uri: msg.uri, state: 'failed', code: 401, reason: 'Unauthorized', expires: 0 }), registerDelayMs);
        return;
      }
      if (msg.type === 'unregister') {
        // As the real server: configured accounts stay registered for everyone who may use them.
        if (msg.account !== undefined) return error(msg, 'not_allowed', 'configured accounts stay registered');
        const key = { uri: msg.uri };
        session.byo.delete(msg.uri);
        return send(withId(msg, { type: 'registration', ...key, state: 'unregistered', code: 200, reason: 'OK', expires: 0 }));
      }
      if (CALL_TYPES.has(msg.type)) {
        if (typeof msg.call_id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(msg.call_id)) {
          return error(msg, 'invalid_field', "field 'call_id' must be 1 to 64 of A-Z a-z 0-9 . _ -");
        }
        if (msg.type === 'call' && !callsImplemented) {
          return send(withId(msg, { type: 'error', call_id: msg.call_id, code: 'not_implemented', message: 'calls are not implemented in this build' }));
        }
        return undefined; // recorded; the test plays the server's side with push()
      }
      return error(msg, 'not_implemented', `the fake does not do "${msg.type}"`);
    });
  }

  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address();

  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    get connections() {
      return connections;
    },
    // Cuts every open socket the way a crashed server or a dead network would (no close
    // frame); the next `thenDropNext` connections are cut again right after they open.
    dropClients({ thenDropNext = 0 } = {}) {
      dropNext = thenDropNext;
      for (const ws of sockets) ws.terminate();
    },
    setRefuseUpgrades(value) {
      refuseUpgrades = value;
    },
    // Sends a server message to the newest logged-in socket.
    push(msg) {
      const target = sessions.at(-1);
      if (!target) throw new Error('no logged-in client to push to');
      target.send(msg);
    },
    // Resolves with the first received client message (msg only) matching pred, waiting for
    // it if needed.
    waitFor(pred, { timeoutMs = 5000, what = 'a matching message' } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.find(({ msg }) => pred(msg));
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit.msg);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the page never sent ${what}; it sent: ${received.map(({ msg }) => msg.type).join(', ')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      const closed = new Promise((resolve) => httpServer.close(resolve));
      // Browsers keep HTTP connections alive; close() alone would wait for them to time out.
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

const CALL_TYPES = new Set(['call', 'accept', 'reject', 'hangup', 'dtmf', 'candidate', 'hold', 'resume', 'transfer']);

function randomToken(length) {
  return crypto.randomBytes(length).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(length, 'x').slice(0, length);
}

function randomFingerprint() {
  return [...crypto.randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

// An answer Chromium accepts for its own offer: same media sections, codecs and mids, but our
// own ICE credentials and DTLS fingerprint, a=setup:active, and none of the offer's
// candidates, ssrc or msid lines (the remote track then has no stream, as from many gateways).
export function fakeAnswerSdp(offer) {
  const ufrag = randomToken(8);
  const pwd = randomToken(24);
  const fingerprint = randomFingerprint();
  const lines = offer.split(/\r?\n/).filter((l) => l !== '');
  const out = [];
  for (const line of lines) {
    if (/^a=(candidate|end-of-candidates|ssrc|ssrc-group|msid|ice-options|extmap-allow-mixed)/.test(line)) continue;
    if (line.startsWith('o=')) out.push(`o=- ${Date.now()} 1 IN IP4 127.0.0.1`);
    else if (line.startsWith('a=ice-ufrag:')) out.push(`a=ice-ufrag:${ufrag}`);
    else if (line.startsWith('a=ice-pwd:')) out.push(`a=ice-pwd:${pwd}`);
    else if (line.startsWith('a=fingerprint:')) out.push(`a=fingerprint:sha-256 ${fingerprint}`);
    else if (line.startsWith('a=setup:')) out.push('a=setup:active');
    else if (line.startsWith('a=msid-semantic')) out.push('a=msid-semantic: WMS');
    else out.push(line);
  }
  return `${out.join('\r\n')}\r\n`;
}

// An offer of the kind the server sends with `incoming`: one audio section, Opus, PCMU, PCMA,
// telephone-event; DTLS actpass, rtcp-mux, no candidates yet (they trickle).
export function fakeOfferSdp() {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=msid-semantic: WMS',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 101',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    `a=ice-ufrag:${randomToken(8)}`,
    `a=ice-pwd:${randomToken(24)}`,
    `a=fingerprint:sha-256 ${randomFingerprint()}`,
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    '',
  ].join('\r\n');
}

// A host candidate on a loopback port where nothing listens (ICE checks go nowhere).
export const FAKE_CANDIDATE = {
  candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host',
  sdpMid: '0',
  sdpMLineIndex: 0,
};
