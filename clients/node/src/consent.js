'use strict';
// Consent artefacts (docs/request-signing.md §6): the terms as an RFC 8785 (JCS) JSON
// object of exactly the documented members, signed by the issuer over those bytes.

const crypto = require('node:crypto');
const { sign } = require('./keys');
const { requestTime } = require('./signing');

/** RFC 8785 for what terms hold: objects, arrays, strings, integers. */
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const names = Object.keys(value).sort();
    return `{${names.map((n) => `${JSON.stringify(n)}:${canonicalJson(value[n])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new Error('only integers appear in consent terms');
  }
  if (typeof value === 'string' || typeof value === 'number') return JSON.stringify(value);
  throw new Error('consent terms hold only strings, integers and arrays');
}

/** The terms object for a new consent (times are Date objects). */
function newTerms({ subjectId, grantee, purpose, categories, notBefore, notAfter, maxUses,
  issuer, issuedAt, consentId }) {
  return {
    v: 1,
    consent_id: consentId ?? `consent-${crypto.randomUUID()}`,
    subject_id: subjectId.trim().toUpperCase(),
    grantee,
    purpose,
    categories: [...new Set(categories)].sort(),
    not_before: requestTime(notBefore),
    not_after: requestTime(notAfter),
    max_uses: maxUses,
    issuer,
    issued_at: requestTime(issuedAt ?? notBefore),
  };
}

/** {artefact, signature}: the canonical bytes and the issuer's signature over them. */
function signTerms(terms, privateKey) {
  const artefact = Buffer.from(canonicalJson(terms), 'utf8');
  return { artefact, signature: sign(privateKey, artefact) };
}

module.exports = { canonicalJson, newTerms, signTerms };
