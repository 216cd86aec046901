"""Key rotation: stored values re-encrypted under a new data key, and a new log key and log.

Operator jobs (`credgate keys reencrypt`, `credgate keys rotate log`) built on the whole
gateway, so this room sits above the composition root.
"""
