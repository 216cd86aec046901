"""Peer platforms (issue 18): the province, other cities and subscribers such as the
financial credit base. This room sits above the gateway and its client:

- :mod:`gateway.peers.client`  this gateway's signed mTLS channel to a peer;
- :mod:`gateway.peers.outbox`  the durable outbox that pushes record changes to peers;
- :mod:`gateway.peers.receive` storing what a peer pushed, read-only, with its origin;
- :mod:`gateway.peers.dev`     development platforms (own CA, keys, policies) for the
  demo, the benchmark and the tests.

Below it: :mod:`gateway.identify.trust` (per-peer trust bundles; a peer's certificate is
accepted only for that peer) and :mod:`gateway.catalogue.sharing` (policies/sharing.toml:
what goes to whom, at what level of detail, and what is accepted from whom).
"""
