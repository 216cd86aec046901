#!/usr/bin/env node
'use strict';
// Check this client against the published vectors (tests/vectors/request-signing):
// the signer must reproduce every accepted request's headers and signed message, the
// answer verifier must reach each answer vector's outcome, and the consent code must
// rebuild the canonical artefact from its terms. Prints PASS/FAIL per vector; exit 1 on
// any failure.

const fs = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');

const { loadSigningKey, loadPublicKey, verify } = require('../src/keys');
const { signRequest } = require('../src/signing');
const { verifyAnswer } = require('../src/answers');
const { canonicalJson } = require('../src/consent');

const [dir = '../../tests/vectors/request-signing',
  protoFile = path.join(__dirname, '..', '..', '..', 'proto', 'credgate', 'v1', 'credgate.proto')]
  = process.argv.slice(2);
const root = new protobuf.Root().loadSync(protoFile, { keepCase: true });
const decoder = (name) => (bytes) => {
  const type = root.lookupType(name);
  return type.toObject(type.decode(bytes), { longs: String, enums: String });
};

function checkRequest(v) {
  if (v.expect !== 'accept') return null;
  const key = loadSigningKey(path.join(dir, v.key));
  const signed = signRequest({
    privateKey: key.privateKey, method: v.method, party: v.party,
    body: Buffer.from(v.body_base64, 'base64'),
    now: new Date(v.headers['x-credgate-request-time']),
    salt: Buffer.from(v.headers['x-credgate-request-salt'], 'base64'),
  });
  if (signed.digest !== v.digest) throw new Error('digest differs');
  if (signed.message.toString('ascii') !== v.signed_message) throw new Error('message differs');
  if (JSON.stringify(signed.headers) !== JSON.stringify(v.headers)) throw new Error('headers differ');
  return 'signer reproduces the headers';
}

function checkAnswer(v) {
  const raw = Buffer.from(v.answer_base64, 'base64');
  const options = {
    gatewayKey: loadPublicKey(path.join(dir, v.public_key)), method: v.method,
    party: v.party, requestDigest: v.request_digest,
    decodeSignature: decoder('credgate.v1.AnswerSignature'), decodeAnswer: decoder(v.type),
  };
  let outcome;
  try {
    verifyAnswer(raw, options);
    outcome = 'accept';
  } catch (error) {
    outcome = 'refuse';
  }
  if (outcome !== v.expect) throw new Error(`verifier says ${outcome}`);
  return `verifier: ${outcome}`;
}

function checkConsent(v) {
  const artefact = Buffer.from(v.artefact_base64, 'base64');
  const key = loadPublicKey(path.join(dir, v.public_key));
  const signatureOk = verify(key.publicKey, artefact, Buffer.from(v.signature_base64, 'base64'));
  const canonical = canonicalJson(JSON.parse(artefact.toString('utf8'))) === artefact.toString('utf8');
  const outcome = signatureOk && canonical ? 'accept' : 'refuse';
  if (outcome !== v.expect) throw new Error(`consent check says ${outcome}`);
  if (v.terms && canonicalJson(v.terms) !== artefact.toString('utf8')) {
    throw new Error('terms do not rebuild the artefact');
  }
  return `consent: ${outcome}`;
}

const checks = { request: checkRequest, answer: checkAnswer, consent: checkConsent };
let failed = 0;
let passed = 0;
let skipped = 0;
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const vector = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const check = checks[file.split('-')[0]];
  try {
    if (!check) throw new Error('no check for this kind of vector');
    const said = check(vector);
    if (said === null) {
      console.log(`SKIP ${file}: a refusal of the gateway's verifier`);
      skipped += 1;
    } else {
      console.log(`PASS ${file}: ${said}`);
      passed += 1;
    }
  } catch (error) {
    console.log(`FAIL ${file}: ${error.message}`);
    failed += 1;
  }
}
console.log(`PASS: ${passed}/${passed + failed} (${skipped} skipped)`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
