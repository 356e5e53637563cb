// rtp-relay: a UDP relay between tabphone and a phone for the phone's RTP toward tabphone, for
// tests that need that stream changed on the way: packets dropped (loss), or sent from another
// address than the phone's SDP names (a phone behind NAT).
import dgram from 'node:dgram';

/**
 * SIP: tabphone's INVITE goes to the relay's SIP port, which passes it on to the phone (at
 * phoneSipPort on 127.0.0.1) with the SDP's audio port pointing at the relay's RTP socket; the
 * phone's responses come back through the relay (rport), ACK and BYE go straight to its Contact.
 * RTP: from the phone -> tabphone, sent from the relay's RTP socket on `host`, every
 * `dropEvery`-th packet dropped (0 = none); from tabphone (when it latched to the relay's
 * source) -> the phone. Returns { sipPort, forwarded, dropped, close() }.
 */
export async function startRtpRelay(phoneSipPort, { host = '127.0.0.1', dropEvery = 0 } = {}) {
  const sip = dgram.createSocket('udp4');
  const rtp = dgram.createSocket('udp4');
  await Promise.all([new Promise((r) => sip.bind(0, '127.0.0.1', r)), new Promise((r) => rtp.bind(0, host, r))]);
  const relay = { sipPort: sip.address().port, forwarded: 0, dropped: 0, tabphonePort: 0, phone: null };
  let client = null; /* tabphone's SIP socket, from its requests */
  sip.on('message', (msg, from) => {
    if (from.port === phoneSipPort) { /* responses (rport: they come back here) */
      if (client) sip.send(msg, client.port, client.address);
      return;
    }
    client = from;
    let text = msg.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    if (text.startsWith('INVITE ') && split > 0) {
      let body = text.slice(split + 4);
      body = body.replace(/\r\nm=audio (\d+)/, (_, port) => {
        relay.tabphonePort = Number(port);
        return `\r\nm=audio ${rtp.address().port}`;
      }).replace(/\r\nc=IN IP4 [\d.]+/g, `\r\nc=IN IP4 ${host}`);
      const head = text.slice(0, split).replace(/\r\n(Content-Length|l)\s*:\s*\d+/i, `\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}`);
      text = `${head}\r\n\r\n${body}`;
    }
    sip.send(Buffer.from(text, 'latin1'), phoneSipPort, '127.0.0.1');
  });
  rtp.on('message', (msg, from) => {
    if (from.port === relay.tabphonePort) {
      if (relay.phone) rtp.send(msg, relay.phone.port, relay.phone.address);
      return;
    }
    relay.phone = from;
    if (dropEvery && ++relay.forwarded % dropEvery === dropEvery / 2) { relay.dropped++; return; }
    if (!dropEvery) relay.forwarded++;
    rtp.send(msg, relay.tabphonePort, '127.0.0.1');
  });
  relay.close = () => { sip.close(); rtp.close(); };
  return relay;
}
