"""Personal data recognised: ID numbers (GB 11643), caller identifiers, the scanner, normalisers.

The ground every layer reads: intake validation, the policy gate of the public feed,
masking and the audit all ask these modules whether a text holds personal data. Nothing
here imports from above the ground (records, policy, disclosure, services).
"""
