// dns: a small authoritative DNS server for tests (dnsmasq from Debian's dnsmasq-base) on
// 127.0.0.1, serving only the records the test gives it. Nothing is forwarded anywhere
// (--no-resolv, --no-hosts, no upstream servers) and it binds loopback only.
//
//   const dns = await startDns({
//     hosts: { 'pbx.example.test': '127.0.0.1' },                        // A / AAAA
//     srv: [{ name: '_sip._udp.example.test', target: 'pbx.example.test', port: 5070,
//             priority: 10, weight: 10 }],
//     naptr: [{ name: 'example.test', order: 10, preference: 10, flags: 'S',
//               service: 'SIP+D2U', replacement: '_sip._udp.example.test' }],
//   });
//   dns.port; dns.server ('127.0.0.1:PORT' for [sip] dns_server); dns.queries(); await dns.stop();
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';

import { freePort } from './sip-peers.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One A query on 127.0.0.1:port; resolves true when any answer comes back. */
function probe(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    // id 0x1234, RD, one question: "probe.invalid" A IN
    const q = Buffer.from('123401000001000000000000' + '0570726f626507696e76616c6964' + '00' + '00010001', 'hex');
    const t = setTimeout(() => { sock.close(); resolve(false); }, 200);
    sock.on('message', () => { clearTimeout(t); sock.close(); resolve(true); });
    sock.on('error', () => { clearTimeout(t); sock.close(); resolve(false); });
    sock.send(q, port, '127.0.0.1');
  });
}

export async function startDns({ hosts = {}, srv = [], naptr = [], port } = {}) {
  port = port ?? await freePort();
  const args = ['--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`,
    '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
    '--no-negcache', '--pid-file=', '--user=root', '--log-queries', '--log-facility=-'];
  for (const [name, address] of Object.entries(hosts)) {
    for (const a of [].concat(address)) args.push(`--host-record=${name},${a}`);
  }
  for (const r of srv) {
    args.push(`--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 10},${r.weight ?? 10}`);
  }
  for (const r of naptr) {
    args.push(`--naptr-record=${r.name},${r.order ?? 10},${r.preference ?? 10},${r.flags ?? 'S'},` +
      `${r.service},,${r.replacement}`);
  }
  const child = spawn('dnsmasq', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  const done = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  for (let i = 0; i < 50 && !(await probe(port)); i++) {
    if (exited) throw new Error(`dnsmasq exited:\n${output}`);
    await sleep(50);
  }
  return {
    port,
    server: `127.0.0.1:${port}`,
    output: () => output,
    /** The questions asked so far, e.g. [{ type: 'NAPTR', name: 'example.test' }]. */
    queries() {
      return [...output.matchAll(/query\[(\w+)\] (\S+) from/g)].map((m) => ({ type: m[1], name: m[2] }));
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await done;
      }
    },
  };
}
