'use strict';
// Request signatures, scheme v2 (docs/request-signing.md §2-3): the party signs five
// LF-joined ASCII lines naming the scheme, method, party, time and the digest of a fresh
// salt followed by the body bytes exactly as they will be sent.

const crypto = require('node:crypto');
const { sign } = require('./keys');

const SCHEME = 'v2';
const DOMAIN = 'credgate/request/v2';
const SALT_BYTES = 32;
const PRINTABLE_LINE = /^[\x21-\x7e]+$/;

/** YYYY-MM-DDTHH:MM:SSZ: UTC, to the second. */
function requestTime(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function signedMessage(method, party, time, digest) {
  const parts = [method, party, time, digest];
  if (!parts.every((part) => PRINTABLE_LINE.test(part))) {
    throw new Error('a signed part is not one line of printable ASCII');
  }
  return Buffer.from([DOMAIN, ...parts].join('\n'), 'ascii');
}

/**
 * Sign one body for a method: the four headers and the digest a signed answer names.
 * `salt` is for test vectors only; calls always take a fresh one.
 */
function signRequest({ privateKey, method, party, body, now, salt }) {
  const nonce = salt ?? crypto.randomBytes(SALT_BYTES);
  if (nonce.length !== SALT_BYTES) throw new Error('the salt must be 32 bytes');
  const time = requestTime(now);
  const digest = crypto.createHash('sha256').update(nonce).update(body).digest('hex');
  const signature = sign(privateKey, signedMessage(method, party, time, digest));
  return {
    digest,
    message: signedMessage(method, party, time, digest),
    headers: {
      'x-credgate-request-scheme': SCHEME,
      'x-credgate-request-time': time,
      'x-credgate-request-salt': nonce.toString('base64'),
      'x-credgate-request-signature': signature.toString('base64'),
    },
  };
}

module.exports = { signRequest, signedMessage, requestTime, SCHEME };
