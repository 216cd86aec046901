"""The protect step: decrypt only released fields, mask the `masked` ones, name the withheld.

`release` protects one record for one audience; `profiles` are the per-audience operators
of policies/masking.toml; `operators` the de-identification operators per field type;
`attachments` what the person attached to a released record.
"""
