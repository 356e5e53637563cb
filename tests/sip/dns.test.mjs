// dns.test.mjs: RFC 3263 resolution of the registrar (NAPTR -> SRV -> A) through a dnsmasq
// started by the test on loopback, with the server's resolver pointed at it ([sip] dns_server),
// and failover to the next SRV target. Run inside a namespace:
//   TABPHONE_BIN=... tests/e2e/run.sh sip/dns.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.mjs';
import { settledRegistration } from '../lib/client.mjs';
import { freePort, startKamailio, startResponder } from '../lib/sip-peers.mjs';
import { startDns } from '../lib/dns.mjs';

const PASSWORDS = { alice: 'alice-Dns-1' };

/** Registers sip:alice@example.test with the given SRV targets (all on 127.0.0.1). */
async function registerVia(srvRecords, { naptr = true } = {}) {
  const dns = await startDns({
    hosts: { 'a.example.test': '127.0.0.1', 'b.example.test': '127.0.0.1' },
    srv: srvRecords.map((r) => ({ name: '_sip._udp.example.test', ...r })),
    naptr: naptr ? [{ name: 'example.test', service: 'SIP+D2U', replacement: '_sip._udp.example.test' }] : [],
  });
  const srv = await startServer({ config: { sip: { dns_server: dns.server }, 'account alice': {
    uri: 'sip:alice@example.test', password: PASSWORDS.alice } } });
  try {
    const reg = await settledRegistration(srv, 'alice');
    return { reg, logs: srv.logs(), queries: dns.queries().map((q) => `${q.type} ${q.name}`) };
  } finally {
    await srv.stop();
    await dns.stop();
  }
}

describe('RFC 3263 registrar resolution', { concurrency: true }, () => {
  test('sip:alice@example.test resolves NAPTR -> SRV -> A to a registrar on a non-5060 port', async () => {
    const kam = await startKamailio({ users: PASSWORDS });
    try {
      const { reg, queries } = await registerVia([{ target: 'a.example.test', port: kam.port }]);
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.ok(kam.registers().some((r) => r.user === 'alice'));
      assert.notEqual(kam.port, 5060);
      assert.ok(queries.includes('NAPTR example.test'), queries.join(', '));
      assert.ok(queries.includes('SRV _sip._udp.example.test'), queries.join(', '));
    } finally {
      await kam.stop();
    }
  });

  test('SRV without NAPTR is enough', async () => {
    const kam = await startKamailio({ users: PASSWORDS });
    try {
      const { reg, queries } = await registerVia([{ target: 'b.example.test', port: kam.port }], { naptr: false });
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.ok(queries.includes('SRV _sip._udp.example.test'), queries.join(', '));
    } finally {
      await kam.stop();
    }
  });

  test('a dead first SRV target (nothing listening) fails over to the second', async () => {
    const kam = await startKamailio({ users: PASSWORDS });
    try {
      const dead = await freePort();
      const { reg } = await registerVia([
        { target: 'a.example.test', port: dead, priority: 10 },
        { target: 'b.example.test', port: kam.port, priority: 20 },
      ]);
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.ok(kam.registers().some((r) => r.user === 'alice'));
    } finally {
      await kam.stop();
    }
  });

  // sofia-sip 1.12.11's nta fails over on timeouts and transport errors by itself but reports
  // a 503 as final; server/sip/ graylists the target in sofia's DNS cache and resends.
  test('a first SRV target answering 503 fails over to the second', async () => {
    const kam = await startKamailio({ users: PASSWORDS });
    const busy = await startResponder({ answer: () => 503 });
    try {
      const { reg, logs } = await registerVia([
        { target: 'a.example.test', port: busy.port, priority: 10 },
        { target: 'b.example.test', port: kam.port, priority: 20 },
      ]);
      assert.equal(busy.requests().length, 1, 'the first target was tried once');
      assert.equal(reg.state, 'registered', JSON.stringify(reg));
      assert.match(logs, /503 from an SRV target of _sip\._udp\.example\.test\.: trying the next one/);
    } finally {
      await busy.stop();
      await kam.stop();
    }
  });
});
