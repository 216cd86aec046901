"""The catalogue: parties, purposes, data categories and their rules (policies/catalogue.toml).

Policy, disclosure and records all read it, so it sits on the ground beside `gateway.pii`
and imports nothing above it. Its keys are strict (`policy_keys`).
"""
