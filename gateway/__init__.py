"""credgate: a privacy-preserving data-exchange gateway for personal public-credit records.

What other programs may import (the public faces; everything else is the gateway's own
and may change between versions):

- ``gateway.client``: a party's client (mTLS channel, signed requests, verified answers);
- ``gateway.audit.verifier``: the offline verifier of an audit export, which loads only
  the entry, Merkle, checkpoint and export-format code (``tests/audit/test_public_faces.py``).
"""

__version__ = "0.1.0"
