'use strict';
// A party's connection to the gateway: mTLS, each request signed over the bytes it sends,
// each signed answer verified over the bytes it received (docs/request-signing.md).

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const { loadSigningKey, loadPublicKey } = require('./keys');
const { signRequest } = require('./signing');
const { verifyAnswer, SIGNATURE_FIELD } = require('./answers');

const PACKAGE = 'credgate.v1';
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false };
const identity = (bytes) => bytes;

/** The credgate.v1 contract from proto/ (or another path). */
function loadContract(protoFile) {
  return protoLoader.loadSync(protoFile, LOADER_OPTIONS);
}

/** Whether a message type carries the gateway's signature (field 100). */
function isSignedAnswer(contract, typeName) {
  const type = contract[typeName];
  return Boolean(type && type.type.field.some((f) => f.number === SIGNATURE_FIELD));
}

class CredgateClient {
  /**
   * `keysDir` is a folder `credgate keys init` wrote; `now` gives the time to sign with
   * (a function, so a test can match a gateway whose clock is set).
   */
  constructor({ target, keysDir, party, protoFile, serverName = 'localhost',
    now = () => new Date() }) {
    this.party = party;
    this.now = now;
    this.contract = loadContract(protoFile);
    // Messages no method answers with (AnswerSignature) are decoded from the same file.
    this.messages = new protobuf.Root().loadSync(protoFile, { keepCase: true });
    this.signingKey = loadSigningKey(path.join(keysDir, 'parties', `${party}.sign.key`));
    this.gatewayKey = loadPublicKey(path.join(keysDir, 'gateway.answer.pub'));
    const credentials = grpc.credentials.createSsl(
      fs.readFileSync(path.join(keysDir, 'ca.crt')),
      fs.readFileSync(path.join(keysDir, 'parties', `${party}.key`)),
      fs.readFileSync(path.join(keysDir, 'parties', `${party}.crt`)));
    this.channel = new grpc.Client(target, credentials, {
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
    });
  }

  close() {
    this.channel.close();
  }

  method(service, name) {
    const definition = this.contract[`${PACKAGE}.${service}`];
    if (!definition || !definition[name]) throw new Error(`unknown method ${service}/${name}`);
    return definition[name];
  }

  /** Encode a request object to the bytes that will be sent. */
  encode(service, name, request) {
    return this.method(service, name).requestSerialize(request);
  }

  /** Send body bytes with headers as given; resolves to the answer's raw bytes. */
  sendRaw(service, name, body, headers) {
    const definition = this.method(service, name);
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    return new Promise((resolve, reject) => {
      this.channel.makeUnaryRequest(definition.path, identity, identity, body, metadata,
        { deadline: Date.now() + 10_000 },
        (error, raw) => (error ? reject(error) : resolve(raw)));
    });
  }

  /** Sign a body for a method as this party: {headers, digest}. */
  sign(service, name, body) {
    return signRequest({ privateKey: this.signingKey.privateKey,
      method: this.method(service, name).path, party: this.party, body, now: this.now() });
  }

  /**
   * Call a method: encode once, sign those bytes, send them, verify a signed answer over
   * the bytes received, decode. Resolves to {answer, raw, digest, signature}.
   */
  async call(service, name, request) {
    const definition = this.method(service, name);
    const body = definition.requestSerialize(request);
    const signed = this.sign(service, name, body);
    const raw = await this.sendRaw(service, name, body, signed.headers);
    const typeName = `${PACKAGE}.${definition.responseType.type.name}`;
    if (!isSignedAnswer(this.contract, typeName)) {
      return { answer: definition.responseDeserialize(raw), raw, digest: signed.digest };
    }
    const { answer, details } = verifyAnswer(raw, {
      gatewayKey: this.gatewayKey, method: definition.path, party: this.party,
      requestDigest: signed.digest,
      decodeSignature: (bytes) => this.decode('AnswerSignature', bytes),
      decodeAnswer: definition.responseDeserialize,
    });
    return { answer, raw, digest: signed.digest, signature: details };
  }

  /** Decode bytes as a credgate.v1 message type (by its short name). */
  decode(typeName, bytes) {
    const type = this.messages.lookupType(`${PACKAGE}.${typeName}`);
    return type.toObject(type.decode(bytes), LOADER_OPTIONS);
  }
}

module.exports = { CredgateClient, loadContract };
