#!/usr/bin/env node
'use strict';
// One party's day against a live gateway, from Node alone; the suite runs it
// (tests/clients/test_node_client.py). Reads its settings as JSON on standard input
// (the subject's ID number never goes on a command line) and prints what happened as
// JSON on standard output:
//   {"target", "keys", "proto", "now" (the gateway's clock, ISO), "subject"}
// 1. the citizen portal signs a consent artefact in Node and registers it;
// 2. the credit agency queries with it; the answer is verified in Node;
// 3. the tax bureau runs a joint-punishment check (a signed yes/no answer);
// 4. refusals: a bad signature, a replay, a body changed after signing;
// 5. an answer changed after the gateway signed it fails verification in Node.

const { CredgateClient } = require('../src/client');
const { newTerms, signTerms } = require('../src/consent');
const { verifyAnswer } = require('../src/answers');

async function refusal(promise) {
  try {
    await promise;
    return { refused: false };
  } catch (error) {
    return { refused: true, code: error.code, details: error.details };
  }
}

async function main() {
  const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const now = new Date(input.now);
  const connect = (party) => new CredgateClient({
    target: input.target, keysDir: input.keys, party, protoFile: input.proto,
    now: () => now,
  });
  const portal = connect('citizen_portal');
  const agency = connect('credit_agency');
  const tax = connect('tax_bureau');
  try {
    const terms = newTerms({
      subjectId: input.subject, grantee: 'credit_agency', purpose: 'authorised_query',
      categories: ['dishonest_debtor'], notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + 86_400_000), maxUses: 2, issuer: 'citizen_portal',
    });
    const consent = signTerms(terms, portal.signingKey.privateKey);
    const issued = await portal.call('ConsentService', 'IssueConsent', { consent });

    const query = await agency.call('QueryService', 'QuerySubject', {
      subject_id: input.subject, purpose: 'authorised_query',
      consent_id: issued.answer.consent_id,
    });

    const check = await tax.call('CheckService', 'JointPunishmentCheck', {
      subject_id: input.subject, measure: 'high_consumption', purpose: 'joint_punishment',
    });

    const request = { subject_id: input.subject, measure: 'high_consumption',
      purpose: 'joint_punishment' };
    const body = tax.encode('CheckService', 'JointPunishmentCheck', request);
    const forged = tax.sign('CheckService', 'JointPunishmentCheck', body).headers;
    const signature = Buffer.from(forged['x-credgate-request-signature'], 'base64');
    signature[0] ^= 1;
    forged['x-credgate-request-signature'] = signature.toString('base64');
    const badSignature = await refusal(tax.sendRaw('CheckService', 'JointPunishmentCheck',
      body, forged));

    const once = tax.sign('CheckService', 'JointPunishmentCheck', body).headers;
    await tax.sendRaw('CheckService', 'JointPunishmentCheck', body, once);
    const replay = await refusal(tax.sendRaw('CheckService', 'JointPunishmentCheck', body,
      once));

    const changed = Buffer.from(body);
    changed[changed.length - 1] ^= 1; // a letter of the purpose: still a valid message
    const tampered = await refusal(tax.sendRaw('CheckService', 'JointPunishmentCheck',
      changed, tax.sign('CheckService', 'JointPunishmentCheck', body).headers));

    const alteredAnswer = Buffer.from(query.raw);
    alteredAnswer[alteredAnswer.indexOf('authorised_query')] ^= 0x20;
    let alteredAnswerRefused = false;
    try {
      verifyAnswer(alteredAnswer, {
        gatewayKey: agency.gatewayKey, party: 'credit_agency',
        decodeSignature: (bytes) => agency.decode('AnswerSignature', bytes),
        decodeAnswer: (bytes) => agency.decode('QuerySubjectResponse', bytes),
      });
    } catch (error) {
      alteredAnswerRefused = true;
    }

    process.stdout.write(`${JSON.stringify({
      consent_id: issued.answer.consent_id,
      artefact_base64: consent.artefact.toString('base64'),
      query: {
        categories: (query.answer.records ?? []).map((r) => r.category),
        audit_seq: query.answer.audit_seq,
        digest: query.digest,
        signed: query.signature,
        raw_base64: query.raw.toString('base64'),
      },
      check: { restricted: Boolean(check.answer.restricted), audit_seq: check.answer.audit_seq,
        signed_party: check.signature.party },
      refusals: { bad_signature: badSignature, replay, tampered },
      altered_answer_refused: alteredAnswerRefused,
    }, (key, value) => (key === 'signature' && value?.type === 'Buffer' ? undefined : value))}\n`);
  } finally {
    portal.close();
    agency.close();
    tax.close();
  }
}

main().catch((error) => {
  process.stderr.write(`scenario failed: ${error.code ?? ''} ${error.details ?? error.message}\n`);
  process.exit(1);
});
