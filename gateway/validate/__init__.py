"""The validate step: the body decoded by the gateway itself, then every field checked.

`wire` decodes request bodies (a malformed one is refused and audited); `requests`
checks what they say against the catalogue (codes, sizes, ID checksums, free text).
The grammar of caller identifiers is the ground's (`gateway.pii.identifiers`).
"""
