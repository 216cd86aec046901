// credgate console: the browser checks the audit log's evidence itself.
//
// Nothing here trusts the console's server: it is handed bytes (an entry's canonical
// form, proof hashes, signed notes) and the log's public key, and recomputes with
// WebCrypto (SHA-256, Ed25519):
//   * RFC 9162 section 2.1 (= RFC 6962 section 2.1) Merkle hashing: leaf = SHA-256(0x00 || entry),
//     node = SHA-256(0x01 || left || right);
//   * inclusion proof verification, RFC 9162 section 2.1.3.2;
//   * consistency proof verification, RFC 9162 section 2.1.4.2;
//   * C2SP signed-note parsing and Ed25519 note signatures (key ID = first 4 bytes of
//     SHA-256(key name || 0x0A || 0x01 || public key)), and C2SP tlog-checkpoint bodies.
"use strict";

const CredgateVerify = (() => {
  const enc = new TextEncoder();

  function b64decode(text) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new Error("not base64");
    }
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // RFC 9162 2.1.3.2: the root an inclusion proof leads to, or an error.
  async function inclusionRoot(index, size, leaf, proof) {
    let fn = BigInt(index);
    let sn = BigInt(size) - 1n;
    if (fn > sn) throw new Error("leaf index is outside the tree");
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) throw new Error("proof is longer than the path");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("proof is shorter than the path");
    return r;
  }

  // RFC 9162 2.1.4.2: check that the tree of size m (root oldRoot) is a prefix of the
  // tree of size n (root newRoot); throws when it is not shown.
  async function checkConsistency(m, n, proof, oldRoot, newRoot) {
    m = BigInt(m); n = BigInt(n);
    if (m < 1n || m > n) throw new Error("sizes are out of order");
    if (m === n) {
      if (proof.length !== 0) throw new Error("a proof between equal sizes must be empty");
      if (!equal(oldRoot, newRoot)) throw new Error("equal sizes with different roots");
      return;
    }
    if (proof.length === 0) throw new Error("the proof is empty");
    let path = proof.slice();
    if ((m & (m - 1n)) === 0n) path = [oldRoot, ...path]; // m is a power of two
    let fn = m - 1n;
    let sn = n - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) throw new Error("proof is longer than needed");
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("proof is shorter than needed");
    if (!equal(fr, oldRoot)) throw new Error("the proof does not lead to the older root");
    if (!equal(sr, newRoot)) throw new Error("the proof does not lead to the newer root");
  }

  // C2SP signed-note: text, blank line, signature lines "— name base64(keyid||sig)".
  function parseNote(text) {
    if (!text.endsWith("\n")) throw new Error("note does not end with a newline");
    const cut = text.indexOf("\n\n");
    if (cut < 0) throw new Error("note has no signature block");
    const body = text.slice(0, cut + 1);
    const signatures = [];
    for (const line of text.slice(cut + 2).split("\n")) {
      if (line === "") continue;
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      const blob = b64decode(m[2]);
      if (blob.length < 5) throw new Error("signature too short");
      signatures.push({ name: m[1], keyId: blob.slice(0, 4), sig: blob.slice(4) });
    }
    if (signatures.length === 0) throw new Error("note is not signed");
    return { body, signatures };
  }

  // C2SP tlog-checkpoint body: origin, decimal size, base64 root hash, extensions.
  function parseCheckpoint(body) {
    const lines = body.slice(0, -1).split("\n");
    if (lines.length < 3) throw new Error("checkpoint body has fewer than three lines");
    const [origin, sizeText, rootText] = lines;
    if (!/^(0|[1-9][0-9]{0,18})$/.test(sizeText)) throw new Error("bad tree size");
    const root = b64decode(rootText);
    if (root.length !== 32) throw new Error("root hash is not 32 bytes");
    const time = lines.slice(3).find((l) => l.startsWith("time "));
    return { origin, size: BigInt(sizeText), root, time: time ? time.slice(5) : "" };
  }

  async function noteKeyId(name, publicKey) {
    const digest = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, 0x01), publicKey));
    return digest.slice(0, 4);
  }

  // Verify a checkpoint note with the log key; the key name is the checkpoint's origin.
  async function verifyCheckpoint(noteText, publicKey) {
    const note = parseNote(noteText);
    const cp = parseCheckpoint(note.body);
    const keyId = await noteKeyId(cp.origin, publicKey);
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false,
                                              ["verify"]);
    let good = false;
    for (const s of note.signatures) {
      if (s.name !== cp.origin || !equal(s.keyId, keyId)) continue; // another signer
      if (s.sig.length !== 64) throw new Error("signature is not 64 bytes");
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, s.sig,
                                            enc.encode(note.body));
      if (!ok) throw new Error("the log key's signature on the checkpoint is not valid");
      good = true;
    }
    if (!good) throw new Error("the checkpoint is not signed by the log key");
    return { ...cp, keyId: hex(keyId) };
  }

  return { b64decode, hex, leafHash, inclusionRoot, checkConsistency, verifyCheckpoint,
           equal };
})();

(() => {
  const V = CredgateVerify;

  function report(box, ok, headline, steps) {
    const result = box.querySelector("#verify-result");
    const list = box.querySelector("#verify-steps");
    result.textContent = headline;
    result.className = "result " + (ok ? "result-ok" : "result-bad");
    list.replaceChildren(...steps.map(([good, words]) => {
      const li = document.createElement("li");
      li.className = good ? "step-ok" : "step-bad";
      li.textContent = (good ? "✓ " : "✗ ") + words;
      return li;
    }));
  }

  async function verifyEntry(box) {
    const steps = [];
    const seq = box.dataset.seq;
    try {
      const canonical = V.b64decode(box.dataset.canonical);
      const key = V.b64decode(box.dataset.logKey);
      const reply = await fetch(`/audit/entry/${seq}/proof.json`,
                                { credentials: "same-origin", headers: { Accept: "application/json" } });
      const proof = await reply.json();
      if (!reply.ok) throw new Error(proof.error || "the proof could not be fetched");
      // What the page shows must be what the logged bytes say.
      const logged = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(canonical));
      const shown = JSON.parse(box.dataset.shown || "{}");
      for (const [name, value] of Object.entries(shown)) {
        const bytes = name === "time" ? String(logged.time || "").replace(/\.\d+Z$/, "Z") : logged[name];
        const want = name === "time" ? String(value).replace(/\.\d+Z$/, "Z") : value;
        if (JSON.stringify(bytes ?? "") !== JSON.stringify(want)) {
          throw new Error(`the page shows another ${name} than the logged entry`);
        }
      }
      steps.push([true, `the page shows what the logged entry says (${Object.keys(shown).length} fields)`]);
      const leaf = await V.leafHash(canonical);
      steps.push([true, `leaf hash SHA-256(0x00 || entry) = ${V.hex(leaf).slice(0, 16)}…`]);
      if (BigInt(proof.leaf_index) !== BigInt(seq) - 1n) {
        throw new Error("the proof is for another entry");
      }
      const cp = await V.verifyCheckpoint(proof.checkpoint, key);
      steps.push([true, `checkpoint of ${cp.origin}, size ${cp.size}, signed by key ${cp.keyId} (Ed25519) 签名有效`]);
      if (BigInt(proof.tree_size) !== cp.size) throw new Error("the proof is for another tree size");
      const root = await V.inclusionRoot(proof.leaf_index, proof.tree_size, leaf,
                                         proof.hashes.map(V.b64decode));
      if (!V.equal(root, cp.root)) throw new Error("the inclusion path does not lead to the signed root");
      steps.push([true, `inclusion path of ${proof.hashes.length} hashes leads to the signed root ${V.hex(root).slice(0, 16)}…`]);
      report(box, true, `Verified 验证通过: entry #${seq} is in the signed log of ${cp.size} entries.`, steps);
    } catch (err) {
      steps.push([false, String(err.message || err)]);
      report(box, false, `Does not verify 验证失败: ${err.message || err}`, steps);
    }
  }

  async function verifyConsistency(box) {
    const steps = [];
    try {
      const key = V.b64decode(box.dataset.logKey);
      const older = await V.verifyCheckpoint(box.dataset.old, key);
      steps.push([true, `older checkpoint (size ${older.size}) signed by key ${older.keyId}`]);
      const newer = await V.verifyCheckpoint(box.dataset.new, key);
      steps.push([true, `newer checkpoint (size ${newer.size}) signed by key ${newer.keyId}`]);
      if (older.origin !== newer.origin) throw new Error("the checkpoints name different logs");
      const hashes = box.dataset.hashes ? box.dataset.hashes.split(" ").map(V.b64decode) : [];
      await V.checkConsistency(older.size, newer.size, hashes, older.root, newer.root);
      steps.push([true, `consistency proof of ${hashes.length} hashes: the newer log extends the older one`]);
      report(box, true, `Consistent 一致: the log of ${newer.size} entries extends the log of ${older.size}.`, steps);
    } catch (err) {
      steps.push([false, String(err.message || err)]);
      report(box, false, `Does not verify 验证失败: ${err.message || err}`, steps);
    }
  }

  async function markCheckpoints(table) {
    const key = V.b64decode(table.dataset.logKey);
    for (const row of table.querySelectorAll("tbody tr")) {
      const cell = row.querySelector(".sig-state");
      try {
        const cp = await V.verifyCheckpoint(row.dataset.note, key);
        cell.textContent = `✓ signed (${cp.keyId})`;
        cell.className = "sig-state step-ok";
      } catch (err) {
        cell.textContent = `✗ does not verify: ${err.message || err}`;
        cell.className = "sig-state step-bad";
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const entry = document.querySelector("[data-verify-entry]");
    if (entry) entry.addEventListener("click", () => verifyEntry(document.getElementById("verify")));
    const cons = document.querySelector("[data-verify-consistency]");
    if (cons) cons.addEventListener("click", () => verifyConsistency(document.getElementById("consistency")));
    const table = document.getElementById("checkpoint-table");
    if (table) markCheckpoints(table);
  });
})();
