"""Live supervision: anomaly rules over the audit log, alerts for regulators (issue 16).

``rules`` parses policies/monitoring.toml, ``engine`` evaluates entries (no gRPC, no
database), ``replay`` runs the recorded test streams, ``alerts`` turns alerts into
audit entries and back, ``runner`` tails the shared log at one instance at a time.
"""
