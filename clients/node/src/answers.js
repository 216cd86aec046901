'use strict';
// Signed answers (docs/request-signing.md §5): the signature covers the answer's bytes as
// received minus its one top-level record of field 100 (answer_signature).

const { verify } = require('./keys');

const SIGNATURE_FIELD = 100;
const LABEL = 'credgate/answer/v1';

function readVarint(bytes, at) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (at >= bytes.length || shift > 63n) throw new Error('truncated varint');
    const byte = bytes[at];
    at += 1;
    value |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if ((byte & 0x80) === 0) return [value, at];
  }
}

/** {body, record}: the signed body and the one answer_signature value. Throws if malformed. */
function splitSigned(raw) {
  const kept = [];
  const records = [];
  let at = 0;
  while (at < raw.length) {
    const begin = at;
    let key;
    [key, at] = readVarint(raw, at);
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (field === 0) throw new Error('field number 0');
    let valueStart = at;
    if (wireType === 0) {
      [, at] = readVarint(raw, at);
    } else if (wireType === 1) {
      at += 8;
    } else if (wireType === 5) {
      at += 4;
    } else if (wireType === 2) {
      let length;
      [length, at] = readVarint(raw, at);
      valueStart = at;
      at += Number(length);
    } else {
      throw new Error('groups are not allowed in an answer');
    }
    if (at > raw.length) throw new Error('truncated record');
    if (field === SIGNATURE_FIELD) {
      if (wireType !== 2) throw new Error('answer_signature is not length-delimited');
      records.push(raw.subarray(valueStart, at));
    } else {
      kept.push(raw.subarray(begin, at));
    }
  }
  if (records.length === 0) throw new Error('the answer is not signed');
  if (records.length !== 1) throw new Error('the answer holds more than one signature');
  return { body: Buffer.concat(kept), record: records[0] };
}

function frame(...parts) {
  return Buffer.concat(parts.flatMap((part) => {
    const bytes = Buffer.isBuffer(part) ? part : Buffer.from(String(part), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return [length, bytes];
  }));
}

function statement(details, body) {
  return frame(LABEL, details.method, details.party, details.request_digest,
    String(details.audit_seq), details.signed_at, body);
}

/**
 * Check an answer as received. `decodeSignature` decodes an AnswerSignature message and
 * `decodeAnswer` the answer (the caller's protobuf library). Returns {answer, details};
 * throws an Error saying why it does not verify.
 */
function verifyAnswer(raw, { gatewayKey, method, party, requestDigest,
  decodeSignature, decodeAnswer }) {
  const { body, record } = splitSigned(raw);
  const details = decodeSignature(record);
  const answer = decodeAnswer(raw);
  if (details.algorithm !== 'ed25519' || details.key_id !== gatewayKey.keyId) {
    throw new Error('the answer is signed by another key');
  }
  if (String(details.audit_seq) !== String(answer.audit_seq ?? details.audit_seq)) {
    throw new Error("the answer's audit entry differs from the signed one");
  }
  const expected = { method, party, request_digest: requestDigest };
  for (const [name, value] of Object.entries(expected)) {
    if (value !== undefined && value !== details[name]) {
      throw new Error('the answer was signed for another call');
    }
  }
  if (!verify(gatewayKey.publicKey, statement(details, body), Buffer.from(details.signature))) {
    throw new Error('the answer signature does not verify');
  }
  return { answer, details };
}

module.exports = { splitSigned, statement, verifyAnswer, SIGNATURE_FIELD };
