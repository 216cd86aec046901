"""Supervision: the figures regulators and the lead department read, counted from the
audit log and the record store (never an ID number): departments' timeliness and
objections, queries and refusals per party and purpose, counties, and the checks
departments must make (应查必查)."""
