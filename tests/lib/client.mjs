// A signaling client for tests: a WebSocket to /ws that queues every JSON message so a test can
// await "the next message of type X" without racing the server.
import WebSocket from 'ws';

export class SignalClient {
  static async connect(url, { origin, headers = {} } = {}) {
    const ws = new WebSocket(url, { rejectUnauthorized: false, origin, headers });
    const client = new SignalClient(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return client;
  }

  constructor(ws) {
    this.ws = ws;
    this.received = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString());
      this.received.push(msg);
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  send(msg) { this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)); }

  /** Resolves with the first not-yet-consumed message matching pred (type string or function). */
  next(pred, ms = 5000) {
    const match = typeof pred === 'string' ? (m) => m.type === pred : pred;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no message matching ${pred} within ${ms} ms; got ${JSON.stringify(this.received)}`)), ms);
      const check = () => {
        const i = this.received.findIndex(match);
        if (i < 0) return false;
        clearTimeout(t);
        resolve(this.received.splice(i, 1)[0]);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  /** Sends a request with an id and resolves with the reply carrying the same id. */
  async request(msg, ms = 5000) {
    this.lastId = (this.lastId || 0) + 1;
    const id = this.lastId;
    this.send({ ...msg, id });
    return this.next((m) => m.id === id, ms);
  }

  close() { this.ws.close(); return this.closed; }
}

/** The account's registration as a tab sees it, once it left "registering" (connects its own
 * client to srv and closes it). */
export async function settledRegistration(srv, name, ms = 8000) {
  const c = await SignalClient.connect(srv.wsUrl);
  try {
    const w = await c.next('welcome');
    const reg = w.accounts.find((a) => a.name === name)?.registration;
    if (reg && reg.state !== 'registering') return reg;
    return await c.next((m) => m.type === 'registration' && m.account === name && m.state !== 'registering', ms);
  } finally {
    await c.close();
  }
}
