"""credgate's cryptography: safe recipes on top, sharp primitives hidden below.

Each recipe is imported from its module; this package imports nothing, so that a program
using one part (the offline audit verifier, say) loads only that part:

- ``fields.FieldCipher`` (``seal`` / ``open`` / ``rotate``, and ``*_bytes``) over a
  ``fields.FieldContext``: field-level envelope encryption (AES-256-GCM, or SM4-GCM in
  the gm suite), bound to record, category and field, with the master key id inside
  each ciphertext so master keys can rotate. Every failure to decrypt raises one opaque
  ``DecryptionError``. The gateway builds one cipher over its keyring.
- ``blind_index.blind_index`` / ``blind_indexes``: the keyed HMAC-SHA256 index that
  stands in for the ID number in storage and lookups; ``keyed_digest`` for other keyed
  equality tests.
- ``signatures.sign`` / ``verify``: detached signatures (Ed25519, or SM2 in the gm
  suite); ``verify`` raises ``BadSignature``.
- ``keyring.Keyring`` / ``load_keyring``: the data keys from ``data-keys.toml``.
- ``certificates.certificate_names``: what an X.509 certificate names.

The raw AEAD, HMAC and key generation live in ``gateway.crypto._primitives``, which
nothing outside this package may import; nor may any module outside it import
``cryptography``, PyNaCl or the SM2 and PKCS#11 bindings (``tests/crypto/test_boundary.py``).
"""
