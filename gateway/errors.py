"""The errors credgate raises; each maps to one gRPC status and a message safe to show.

Messages never contain personal data (no ID number, no name). Details for the
operator go to ``diagnostics()``, which must also stay free of personal data.
"""

from __future__ import annotations

from typing import ClassVar


class CredgateError(Exception):
    """Base error: a safe message for the caller plus diagnostics for the operator."""

    #: Name of the grpc.StatusCode this error maps to (kept as text: no gRPC import here).
    status: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, reason: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        #: A short machine-readable reason code, e.g. "consent_expired".
        self.reason = reason
        self.detail = detail

    def diagnostics(self) -> str:
        """A longer explanation for logs; never contains personal data."""
        parts = [f"{type(self).__name__} ({self.status}): {self.message}"]
        if self.reason:
            parts.append(f"reason: {self.reason}")
        if self.detail:
            parts.append(f"detail: {self.detail}")
        return "\n".join(parts)


class InvalidArgument(CredgateError):
    """The request is malformed: bad code, bad ID checksum, size bound exceeded."""

    status = "INVALID_ARGUMENT"


class Unauthenticated(CredgateError):
    """The caller's certificate does not name a registered party."""

    status = "UNAUTHENTICATED"


class PermissionDenied(CredgateError):
    """Policy, remit or consent refuses the request."""

    status = "PERMISSION_DENIED"


class ConsentRefused(PermissionDenied):
    """The consent artefact is missing or does not cover the request."""


class NotFound(CredgateError):
    """A named object (consent, record) does not exist."""

    status = "NOT_FOUND"


class AlreadyExists(CredgateError):
    """An object with the same identity already exists with different content."""

    status = "ALREADY_EXISTS"


class FailedPrecondition(CredgateError):
    """The system is not in a state that allows the request."""

    status = "FAILED_PRECONDITION"


class QuotaExceeded(CredgateError):
    """A limit of limits.toml is reached; the caller may retry after `retry_after` s."""

    status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after: int, limit: str, rule: str) -> None:
        super().__init__(message, reason="quota", detail=rule)
        #: Whole seconds until the limit lets a call through again (at the soonest).
        self.retry_after = retry_after
        #: The limit kind (calls_per_minute, ...) and the rule as the audit names it.
        self.limit = limit
        self.rule = rule


class AuditUnavailable(CredgateError):
    """The audit entry could not be made durable, so nothing may be released."""

    status = "UNAVAILABLE"


class KeyStoreUnavailable(CredgateError):
    """The key store (a PKCS#11 token) failed; nothing is encrypted, decrypted or released."""

    status = "UNAVAILABLE"

    def __init__(self, message: str = "the key store is unavailable", **kw: str) -> None:
        kw.setdefault("reason", "key_store_unavailable")
        super().__init__(message, **kw)


class StoreUnavailable(CredgateError):
    """The record store could not be read or written; nothing is released."""

    status = "UNAVAILABLE"


class PeerUnavailable(CredgateError):
    """A peer platform this call needs (a record's origin) did not answer; try again."""

    status = "UNAVAILABLE"


class ConfigurationError(CredgateError):
    """Catalogue, policy or keys cannot be loaded; the gateway refuses to serve."""

    status = "FAILED_PRECONDITION"


class DecryptionError(CredgateError):
    """One opaque error for every decryption failure (bad tag, wrong record, unknown key)."""

    status = "INTERNAL"

    def __init__(self, message: str = "stored value cannot be decrypted", **kw: str) -> None:
        super().__init__(message, **kw)


class BadSignature(PermissionDenied):
    """A signature is malformed or does not verify under the expected key."""

    def __init__(self, message: str = "signature does not verify", **kw: str) -> None:
        kw.setdefault("reason", "bad_signature")
        super().__init__(message, **kw)
