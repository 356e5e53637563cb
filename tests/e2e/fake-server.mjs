// fake-server: a stand-in for tabphone's HTTP + /ws signaling, for browser tests of web/.
//
// Serves web/ with the same Content-Security-Policy the real server sends (so a CSP
// violation shows up as a console error in the test), and speaks the /ws JSON contract of
// design.md §4 just far enough for the dialer foundation: login (or open mode), welcome,
// register/unregister with scripted outcomes, registration pushes, ping/pong. Tests steer it
// (drop sockets, refuse upgrades) and read what the page sent from `received`.
//
// Listens on 127.0.0.1 only.

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
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
} = {}) {
  const received = []; // every client message, in order: {conn, msg}
  const sockets = new Set();
  let connections = 0;
  let dropNext = 0; // upcoming connections to cut right after they open
  let refuseUpgrades = false;

  const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
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
      accounts: accounts.map((a) => ({ name: a.name, uri: a.uri, display_name: a.display_name, registration: { ...a.initial } })),
      ice_servers: [],
      byo_accounts: byoAccounts,
      open_mode: openMode,
    });

    if (openMode) send(welcome(''));

    ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(String(data));
      } catch {
        error({}, 'invalid_json', 'not JSON');
        return;
      }
      received.push({ conn, msg });
      if (msg.type === 'ping') return send(withId(msg, { type: 'pong' }));
      if (msg.type === 'login') {
        if (session.loggedIn) return error(msg, 'already_logged_in', 'already logged in');
        if (users[msg.user] === undefined || users[msg.user] !== msg.password) {
          return error(msg, 'login_failed', 'wrong user or password');
        }
        session.loggedIn = true;
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
        const key = msg.account !== undefined ? { account: msg.account } : { uri: msg.uri };
        session.byo.delete(msg.uri);
        return send(withId(msg, { type: 'registration', ...key, state: 'unregistered', code: 200, reason: 'OK', expires: 0 }));
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
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}
