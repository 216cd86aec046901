"""The identify step: who is calling, from the mTLS certificate and the request's signature.

The caller is the party its client certificate names (`certificate`), never a field of
the request; each request carries that party's signature (`request_signing`). A listed
credit agency is then refused on every call (`gateway.records.blacklist`).
"""
