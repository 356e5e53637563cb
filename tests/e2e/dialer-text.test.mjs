// The dialer's pure helpers, without a browser: what the dial field accepts
// (web/js/dial-target.js) and how call endings read (web/js/ui/call-text.js).
//
// web/ has no package.json, so Node would read its .js files as CommonJS; these two modules
// import nothing, so they are loaded as ES modules from their source text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/js');
const load = (rel) => import(`data:text/javascript,${encodeURIComponent(fs.readFileSync(path.join(webJs, rel), 'utf8'))}`);
const { parseTarget } = await load('dial-target.js');
const { hangupWords, callErrorWords, codecWords, encryptionLines, formatDuration } = await load('ui/call-text.js');

test('the dial field takes numbers, tel:, sip: and user@host', () => {
  const to = (text) => parseTarget(text)?.to ?? null;
  assert.equal(to('+1 (415) 555-0100'), '+14155550100');
  assert.equal(to('*97'), '*97');
  assert.equal(to('0049 30 1234#'), '0049301234#');
  assert.equal(to('tel:+15550100'), 'tel:+15550100');
  assert.equal(to('SIP:bob@example.com'), 'sip:bob@example.com');
  assert.equal(to('sips:bob@example.com;transport=tls'), 'sips:bob@example.com;transport=tls');
  assert.equal(to('bob@example.com'), 'sip:bob@example.com');
  assert.equal(to('bob@example.com:5070'), 'sip:bob@example.com:5070');
  assert.equal(to('  Echo '), 'echo');
  for (const bad of ['', '   ', 'bob', '1+2', '+', '()', 'tel:', 'tel:1 2', 'sip:', 'sip:a b@c', 'a@b@c', 'x'.repeat(257)]) {
    assert.equal(to(bad), null, JSON.stringify(bad));
  }
});

test('call endings read as words; reasons written for people are kept as they are', () => {
  assert.equal(hangupWords(486, 'Busy Here'), 'The line is busy. (486 Busy Here)');
  assert.equal(hangupWords(480, 'Temporarily Unavailable'), 'No answer. (480 Temporarily Unavailable)');
  assert.equal(hangupWords(408, 'Request Timeout'), 'No answer. (408 Request Timeout)');
  assert.equal(hangupWords(404, 'Not Found'), 'That number or address was not found. (404 Not Found)');
  assert.equal(hangupWords(488, 'no common codec (browser: opus; far end: G729)'), 'no common codec (browser: opus; far end: G729)');
  assert.match(hangupWords(488, 'srtp_required'), /would not encrypt the call/);
  assert.match(hangupWords(488, 'Not Acceptable Here'), /no common codec\)\. \(488 Not Acceptable Here\)$/);
  assert.equal(hangupWords(0, 'rtp_timeout', { wasAnswered: true }), 'The audio stopped arriving, so the call was ended (network lost).');
  assert.equal(hangupWords(200, 'OK', { wasAnswered: true }), 'The other side hung up.');
  assert.equal(hangupWords(0, 'some_new_cause'), 'Some new cause.');
  assert.equal(callErrorWords('not_implemented', 'calls are not implemented in this build'), 'Calls are not implemented in this build.');
  assert.equal(callErrorWords('not_allowed', ''), 'You are not allowed to make this call.');
});

test('the badge formats both shapes of codec and the encryption of each leg', () => {
  assert.equal(codecWords('opus/48000/2'), 'opus/48000/2');
  assert.equal(codecWords('opus/48000/2 <-> PCMU/8000'), 'opus/48000/2 ↔ PCMU/8000 (transcoded)');
  assert.equal(codecWords({ browser: 'pcmu', sip: 'pcmu', transcoding: false }), 'pcmu');
  assert.equal(codecWords({ browser: 'opus', sip: 'pcma', transcoding: true }), 'opus ↔ pcma (transcoded)');
  assert.deepEqual(encryptionLines({ browser: 'DTLS-SRTP SRTP_AES128_CM_SHA1_80', sip: 'none (RTP)' }),
    ['Browser ↔ server: DTLS-SRTP SRTP_AES128_CM_SHA1_80', 'Server ↔ phone network: none (RTP)']);
  assert.deepEqual(encryptionLines(undefined), []);
  assert.equal(formatDuration(61_500), '01:01');
  assert.equal(formatDuration(3_725_000), '1:02:05');
});
