'use strict';
// Key files (docs/request-signing.md §1): "#" comment lines, blank lines, and one line of
// base64 holding the raw key. Ed25519 only here: a private file holds the 32-byte seed,
// a public file the 32-byte public key. Node's crypto takes keys as DER, so the raw
// bytes are wrapped in the fixed RFC 8410 prefixes.

const crypto = require('node:crypto');
const fs = require('node:fs');

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function readKeyLine(path) {
  const lines = fs.readFileSync(path, 'utf8').split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (lines.length !== 1) throw new Error(`key file must hold exactly one key line: ${path}`);
  if (lines[0].startsWith('sm2:')) throw new Error(`SM2 keys are not supported here: ${path}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(lines[0])) throw new Error(`key is not base64: ${path}`);
  const raw = Buffer.from(lines[0], 'base64');
  if (raw.length !== 32) throw new Error(`key file must hold 32 bytes: ${path}`);
  return raw;
}

function privateKeyFromSeed(seed) {
  return crypto.createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8',
  });
}

function publicKeyFromRaw(raw) {
  return crypto.createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki',
  });
}

/** The signing key in a private key file: {privateKey, publicRaw}. */
function loadSigningKey(path) {
  const privateKey = privateKeyFromSeed(readKeyLine(path));
  const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicRaw: spki.subarray(SPKI_ED25519_PREFIX.length) };
}

/** The public key in a public key file: {publicKey, raw, keyId}. */
function loadPublicKey(path) {
  const raw = readKeyLine(path);
  return { publicKey: publicKeyFromRaw(raw), raw, keyId: keyIdOf(raw) };
}

/** First 16 lowercase hex characters of SHA-256 of the raw public key. */
function keyIdOf(raw) {
  return crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function sign(privateKey, message) {
  return crypto.sign(null, message, privateKey);
}

function verify(publicKey, message, signature) {
  return signature.length === 64 && crypto.verify(null, message, publicKey, signature);
}

module.exports = { loadSigningKey, loadPublicKey, keyIdOf, sign, verify };
