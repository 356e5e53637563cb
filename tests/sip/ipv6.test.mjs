// ipv6.test.mjs: IPv6 on both sides. SIP listens on [::1], registers over IPv6 (UDP and TCP),
// calls a peer on ::1 with Via/Contact in brackets, and the SIP-side SDP names the IPv6 media
// address (c=IN IP6 ::1) of an rtp leg bound on ::1. The browser side: a Chromium tab loaded
// from https://[::1] makes the echo test call with ICE over IPv6 and hears its tone back.
// Chromium gathers no candidate on ::1 (IPv6 loopback is left out even with
// --allow-loopback-in-peer-connection), so the browser test gives the namespace's ifb device
// (tests/e2e/run.sh) a ULA address, fd00:7ab::1, and uses it as [media] address.
// Run inside a namespace:
//   TABPHONE_BIN=... tests/e2e/run.sh sip/ipv6.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { startServer } from '../lib/server.mjs';
import { SignalClient } from '../lib/client.mjs';
import { freePort, startResponder } from '../lib/sip-peers.mjs';
import { assertInsideTestNamespace, launchBrowser } from '../e2e/lib/browser.mjs';

/** A browser offer as Chromium sends it (no candidates needed: the INVITE leaves first). */
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':')}`,
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');

const header = (text, name) => text.split('\r\n').find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':')) ?? '';

async function v6Server(extra = {}) {
  const port = await freePort();
  const srv = await startServer({ config: { sip: { listen: `[::1]:${port}` }, ...extra } });
  return { srv, port };
}

describe('IPv6 on the SIP side', { concurrency: true }, () => {
  for (const proto of ['udp', 'tcp']) {
    test(`registers over IPv6 (${proto}) with a bracketed Contact`, async () => {
      const registrar = await startResponder({ proto, host: '::1' });
      const { srv, port } = await v6Server({ 'account alice': {
        uri: 'sip:alice@[::1]', registrar: `[::1]:${registrar.port}`, transport: proto } });
      try {
        await srv.waitForLog(/\[reg alice\].* registered/);
        const reg = registrar.requests().find((r) => r.method === 'REGISTER');
        assert.match(header(reg.text, 'Contact'), new RegExp(`<sip:alice@\\[::1\\]:${port}`));
        assert.match(reg.via, new RegExp(`SIP/2.0/${proto.toUpperCase()} \\[::1\\]:${port}`));
      } finally {
        await srv.stop();
        await registrar.stop();
      }
    });
  }

  test('a call to a peer on ::1: INVITE with [::1] Via/Contact and c=IN IP6 ::1', async () => {
    const far = await startResponder({ host: '::1', answer: (r) => (r.method === 'INVITE' ? 486 : 200) });
    const { srv, port } = await v6Server();
    const c = await SignalClient.connect(srv.wsUrl);
    try {
      await c.next('welcome');
      c.send({ type: 'call', call_id: 'v6', to: `sip:bob@[::1]:${far.port}`, from_account: 'direct', sdp: OFFER });
      const h = await c.next((m) => m.type === 'hangup' && m.call_id === 'v6', 8000);
      assert.equal(h.code, 486, JSON.stringify(h));
      const invite = far.requests().find((r) => r.method === 'INVITE').text;
      assert.match(header(invite, 'Contact'), new RegExp(`@\\[::1\\]:${port}>`));
      assert.match(invite, /^c=IN IP6 ::1$/m);
      assert.match(invite, /^m=audio \d+ RTP\/AVP /m);
    } finally {
      await c.close();
      await srv.stop();
      await far.stop();
    }
  });
});

describe('IPv6 on the browser side', () => {
  const ULA = 'fd00:7ab::1';
  let browser;
  before(async () => {
    assertInsideTestNamespace();
    try {
      execFileSync('ip', ['-6', 'addr', 'add', `${ULA}/128`, 'dev', 'tponline', 'nodad'], { stdio: 'pipe' });
    } catch (e) {
      if (!String(e.stderr).includes('exists')) throw e;
    }
    browser = await launchBrowser({ toneHz: 440 });
  });
  after(async () => { await browser?.close(); });

  test('a tab on https://[::1] calls echo with ICE over IPv6 and hears its tone', async (t) => {
    const port = await freePort();
    const srv = await startServer({ config: { server: { listen: `[::1]:${port}` }, media: { address: ULA } } });
    t.after(() => srv.stop());
    const page = await browser.newPage();
    t.after(() => page.close());
    await page.goto(`https://[::1]:${port}/?rawaudio=1`);
    const testCall = page.getByRole('button', { name: 'Test call' });
    await testCall.waitFor();
    await page.waitForFunction(() => window.tabphone.session.phase === 'ready');
    await testCall.click();
    const outcome = await page.waitForFunction(() => {
      const call = window.tabphone.calls.current;
      if (!call) return null;
      if (call.ended) return { ended: true, words: call.end.words };
      if (call.state === 'connected' && call.pc?.connectionState === 'connected') return { ended: false };
      if (call.pc?.connectionState === 'failed') return { failed: true };
      return null;
    }, null, { timeout: 15000, polling: 100 }).then((h) => h.jsonValue());
    assert.deepEqual(outcome, { ended: false }, srv.logs().slice(-3000));
    await srv.waitForLog(new RegExp(`ICE selected pair ${ULA}:\\d+ <-> ${ULA}:\\d+`));
    const tone = await page.evaluate(() => window.tabphone.measureRemoteTone(2000));
    assert.ok(Math.abs(tone.frequency - 440) <= 15, `heard ${tone.frequency} Hz`);
    assert.ok(tone.level > -60, `tone at ${tone.level} dB`);
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.locator('#call-result').filter({ hasText: 'You hung up.' }).waitFor();
  });
});
