"""Desensitisation profiles: per audience, the operator for each field type (policies/masking.toml).

A profile maps each field type to an operator, and may override the operator of one
field ("category.field"). A field type with no rule is never published to the public
audience: ``apply`` raises ``UnpublishableField`` naming the field (fail closed).
Other audiences may name a ``default`` (only ``redact`` or ``drop``) for types they do
not list. Operators (the file's header explains them to a security officer):

    keep | mask | mask:F,L | redact | generalise | pseudonymise | scan | drop
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.crypto.blind_index import pseudonym
from gateway.crypto.keyring import Keyring
from gateway.disclosure import operators as ops
from gateway.disclosure.scanner import mask_free_text
from gateway.errors import ConfigurationError, FailedPrecondition

MASKING_FILE = "masking.toml"
FORMAT_VERSION = 1
PUBLIC = "public"
AUDIENCES = ("public", "department", "credit_agency", "self")
OPERATORS = ("keep", "mask", "redact", "generalise", "pseudonymise", "scan", "drop")
_DEFAULT_OPERATORS = ("redact", "drop")
_MASK_PARAMS = re.compile(r"mask:(\d{1,2}),(\d{1,2})")
_AUDIENCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")

# An operator compiled for one audience and type: (value, subject names) -> text, or None
# when the field is dropped.
Operator = Callable[[str, tuple[str, ...]], "str | None"]


class UnpublishableField(FailedPrecondition):
    """A field has no masking rule for the audience, so it is never released."""

    def __init__(self, field: str, audience: str) -> None:
        super().__init__(f"field {field} has no masking rule for the {audience} audience: "
                         "it is never published", reason="unpublishable_field")
        self.field = field
        self.audience = audience


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskContext:
    """What an operator may need besides the value: the field's name and the subjects' names."""

    field: str = ""  # "category.field": selects per-field rules and names the field in errors
    names: tuple[str, ...] = ()  # names of the batch's subjects, masked by the scanner


EMPTY_CONTEXT = MaskContext()


@dataclass(frozen=True, slots=True)
class Profile:
    """One audience's rules: operator text per field type and per field, and a default."""

    audience: str
    description: str
    types: Mapping[str, str]
    fields: Mapping[str, str]
    default: str | None


def _check_operator(spec: Any, where: str, field_type: str | None) -> str:
    """Validate an operator's text; the type is checked when it is known."""
    if not isinstance(spec, str) or not (spec in OPERATORS or _MASK_PARAMS.fullmatch(spec)):
        raise ConfigurationError(f"masking profiles: {where}: unknown operator {spec!r} "
                                 f"(use one of {', '.join(OPERATORS)} or mask:F,L)")
    if spec == "generalise" and field_type is not None and field_type not in ops.GENERALISERS:
        raise ConfigurationError(f"masking profiles: {where}: a {field_type} cannot be "
                                 f"generalised (only {', '.join(sorted(ops.GENERALISERS))})")
    return spec


def _parse_profile(audience: str, raw: Any) -> Profile:
    if not isinstance(raw, dict) or not _AUDIENCE_NAME.fullmatch(audience):
        raise ConfigurationError(f"masking profiles: [{audience}] must be a table")
    unknown = set(raw) - {"description", "default", "types", "fields"}
    if unknown:
        raise ConfigurationError(f"masking profiles: [{audience}] has unknown keys "
                                 f"{sorted(unknown)}")
    types, fields = raw.get("types", {}), raw.get("fields", {})
    if not isinstance(types, dict) or not isinstance(fields, dict):
        raise ConfigurationError(f"masking profiles: [{audience}.types] and "
                                 f"[{audience}.fields] must be tables")
    for field_type, spec in types.items():
        if field_type not in ops.FIELD_TYPES:
            raise ConfigurationError(f"masking profiles: [{audience}.types] unknown field "
                                     f"type {field_type!r}")
        _check_operator(spec, f"[{audience}.types] {field_type}", field_type)
    for name, spec in fields.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ConfigurationError(f"masking profiles: [{audience}.fields] {name!r} must "
                                     "be \"category.field\"")
        _check_operator(spec, f"[{audience}.fields] {name}", None)
    default = raw.get("default")
    if default is not None and (audience == PUBLIC or default not in _DEFAULT_OPERATORS):
        raise ConfigurationError(
            f"masking profiles: [{audience}] default must be redact or drop"
            + (" and the public profile has none: every type is named" if audience == PUBLIC
               else ""))
    return Profile(audience=audience, description=str(raw.get("description", "")),
                   types=dict(types), fields=dict(fields), default=default)


class MaskingProfiles:
    """The desensitisation profiles of every audience, compiled to operators once."""

    def __init__(self, profiles: Mapping[str, Profile], *, keyring: Keyring | None = None
                 ) -> None:
        missing = [a for a in AUDIENCES if a not in profiles]
        if missing:
            raise ConfigurationError(f"masking profiles: no profile for {', '.join(missing)}")
        self.profiles = dict(profiles)
        self._keyring = keyring
        self._compiled: dict[tuple[str, str, str], Operator | None] = {}
        # Per (audience, category, field, type): the operator apply_record uses.
        self._plans: dict[tuple[str, str, str, str], Operator | None] = {}
        for profile in self.profiles.values():
            for field_type, spec in profile.types.items():
                self._compile(profile.audience, spec, field_type)  # fail at load, not later
            if "pseudonymise" in profile.fields.values():
                self._compile(profile.audience, "pseudonymise", "text")

    @classmethod
    def load(cls, policies_dir: Path, *, keyring: Keyring | None = None) -> MaskingProfiles:
        """Read ``policies_dir/masking.toml``; raises ConfigurationError when it is invalid."""
        path = Path(policies_dir) / MASKING_FILE
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"masking profiles not found: {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"masking profiles cannot be read: {path} ({exc})"
                                     ) from None
        return cls.from_document(doc, keyring=keyring)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, keyring: Keyring | None = None
                      ) -> MaskingProfiles:
        """Build the profiles from a parsed masking.toml; raises ConfigurationError."""
        if doc.get("version") != FORMAT_VERSION:
            raise ConfigurationError(f"masking profiles: expected version = {FORMAT_VERSION}")
        profiles = {audience: _parse_profile(audience, raw)
                    for audience, raw in doc.items() if audience != "version"}
        return cls(profiles, keyring=keyring)

    def _compile(self, audience: str, spec: str, field_type: str) -> Operator | None:
        """The operator for a spec and type (cached); None means the field is dropped."""
        key = (audience, spec, field_type)
        if key in self._compiled:
            return self._compiled[key]
        operator: Operator | None
        if spec == "drop":
            operator = None
        elif spec == "pseudonymise":
            keyring = self._keyring
            if keyring is None:
                raise ConfigurationError(f"masking profiles: the {audience} profile "
                                         "pseudonymises, which needs the keyring")
            operator = _pseudonymiser(keyring, audience, ops.normaliser(field_type))
        elif spec == "scan":
            operator = _scan
        else:
            operator = _simple(spec, field_type, audience)
        self._compiled[key] = operator
        return operator

    def operator(self, audience: str, field_type: str, field: str = "") -> Operator | None:
        """The compiled operator for a field; raises UnpublishableField when there is none."""
        profile = self.profiles.get(audience)
        if profile is None:
            raise ConfigurationError(f"masking profiles: no profile for audience {audience!r}")
        spec = profile.fields.get(field) if field else None
        if spec is None:
            spec = profile.types.get(field_type) if field_type in ops.FIELD_TYPES else None
        if spec is None:
            spec = profile.default
        if spec is None:
            raise UnpublishableField(_safe_field(field) if field else
                                     f"of type {_safe(field_type)}", audience)
        return self._compile(audience, spec, field_type)

    def apply(self, audience: str, field_type: str, value: str, *,
              context: MaskContext = EMPTY_CONTEXT) -> str | None:
        """Desensitise one value for an audience; None means the field is dropped.

        Raises UnpublishableField when the audience has no rule for the field.
        """
        operator = self.operator(audience, field_type, context.field)
        if operator is None:
            return None
        return operator(value if isinstance(value, str) else str(value), context.names)

    def apply_record(self, audience: str, category: str, values: Mapping[str, str],
                     field_types: Mapping[str, str], *, names: Iterable[str] = ()
                     ) -> dict[str, str]:
        """Desensitise a record's fields (dropped ones left out); raises UnpublishableField."""
        subjects = tuple(names)
        out: dict[str, str] = {}
        plans = self._plans
        for name, value in values.items():
            field_type = field_types.get(name, "")
            key = (audience, category, name, field_type)
            operator = plans.get(key, _MISSING)
            if operator is _MISSING:
                operator = self.operator(audience, field_type, f"{category}.{name}")
                plans[key] = operator
            if operator is not None:
                masked = operator(value if value.__class__ is str else str(value), subjects)
                if masked is not None:
                    out[name] = masked
        return out


def _pseudonymiser(keyring: Keyring, audience: str, normalise: Callable[[str], str]
                   ) -> Operator:
    """The pseudonymise operator of one audience and type (values normalised first)."""
    def operator(value: str, _names: tuple[str, ...]) -> str:
        return pseudonym(keyring, audience=audience, value=normalise(value))
    return operator


def _scan(value: str, names: tuple[str, ...]) -> str:
    """The scan operator: mask personal data inside a free text."""
    return mask_free_text(value, names=names)


def _missing(_value: str, _names: tuple[str, ...]) -> str | None:
    return None


_MISSING: Operator = _missing


def _safe(field_type: str) -> str:
    """A field type fit for an error message (types are codes, never personal data)."""
    return repr(field_type) if re.fullmatch(r"[a-z_]{1,32}", str(field_type)) else "<invalid>"


def _safe_field(field: str) -> str:
    """A field name fit for an error message (catalogue codes; anything else is hidden)."""
    return field if re.fullmatch(r"[A-Za-z0-9_.\-]{1,128}", str(field)) else "<invalid>"


def _simple(spec: str, field_type: str, audience: str) -> Operator:
    """keep, mask, mask:F,L, redact and generalise, as operators of (value, names)."""
    function: Callable[[str], str]
    if spec == "keep":
        return lambda v, _n: v
    if spec == "redact":
        function = ops.redact
    elif spec == "generalise":
        generaliser = ops.GENERALISERS.get(field_type)
        if generaliser is None:
            raise ConfigurationError(f"masking profiles: the {audience} profile generalises "
                                     f"a {_safe(field_type)}, which has no generalisation")
        function = generaliser
    elif spec == "mask":
        function = ops.TYPE_MASKS.get(field_type, ops.redact)
    else:
        params = _MASK_PARAMS.fullmatch(spec)
        assert params is not None  # validated when the profile was parsed
        function = ops.mask_keeping(field_type, int(params.group(1)), int(params.group(2)))
    return lambda v, _n, f=function: f(v)
