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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from gateway.crypto.blind_index import pseudonymiser
from gateway.crypto.keyring import Keyring
from gateway.errors import ConfigurationError, FailedPrecondition
from gateway.pii.normalise import normaliser
from gateway.pii.scanner import mask_free_text
from gateway.protect import operators as ops
from gateway.strict_toml import Table, decode, read_toml

MASKING_FILE = "masking.toml"
FORMAT_VERSION = 1
PUBLIC = "public"
AUDIENCES = ("public", "department", "credit_agency", "self")
OPERATORS = ("keep", "mask", "redact", "generalise", "pseudonymise", "scan", "drop")
_DEFAULT_OPERATORS = ("redact", "drop")
_MASK_PARAMS = re.compile(r"mask:(\d{1,2}),(\d{1,2})")
_AUDIENCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")



class AudienceTable(Table):
    """One audience's table of masking.toml as written (operators are checked on parsing)."""

    description: str = ""
    default: str | None = None
    types: dict[str, str] = msgspec.field(default_factory=dict)
    fields: dict[str, str] = msgspec.field(default_factory=dict)


# An operator compiled for one audience and type: the function, and whether it takes the
# subjects' names as its second argument (the scanner does). None means "drop".
Step = tuple[Callable[..., str], bool]


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


def _parse_profile(audience: str, raw: AudienceTable) -> Profile:
    if not _AUDIENCE_NAME.fullmatch(audience):
        raise ConfigurationError(f"masking profiles: [{audience}] is not an audience name "
                                 "(lower-case letters, digits and _)")
    for field_type, spec in raw.types.items():
        if field_type not in ops.FIELD_TYPES:
            raise ConfigurationError(f"masking profiles: [{audience}.types] unknown field "
                                     f"type {field_type!r}")
        _check_operator(spec, f"[{audience}.types] {field_type}", field_type)
    for name, spec in raw.fields.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ConfigurationError(f"masking profiles: [{audience}.fields] {name!r} must "
                                     "be \"category.field\"")
        _check_operator(spec, f"[{audience}.fields] {name}", None)
    default = raw.default
    if default is not None and (audience == PUBLIC or default not in _DEFAULT_OPERATORS):
        raise ConfigurationError(
            f"masking profiles: [{audience}] default must be redact or drop"
            + (" and the public profile has none: every type is named" if audience == PUBLIC
               else ""))
    return Profile(audience=audience, description=raw.description, types=dict(raw.types),
                   fields=dict(raw.fields), default=default)


def read_profiles(policies_dir: Path) -> dict[str, Profile]:
    """The profiles of masking.toml as written, not compiled; raises ConfigurationError."""
    doc, text = read_toml(Path(policies_dir) / MASKING_FILE)
    return parse_profiles(doc, text)


def parse_profiles(doc: Mapping[str, Any], text: str = "") -> dict[str, Profile]:
    """The profiles of a parsed masking.toml (``text``: the file, for the line of a bad
    key); raises ConfigurationError."""
    if doc.get("version") != FORMAT_VERSION:
        raise ConfigurationError(f"masking profiles: expected version = {FORMAT_VERSION}")
    # Beside the version, every key is an audience's table (its name is the audience's).
    audiences = decode({k: v for k, v in doc.items() if k != "version"},
                       dict[str, AudienceTable], file=MASKING_FILE, text=text)
    return {audience: _parse_profile(audience, raw) for audience, raw in audiences.items()}


def operator_of(profile: Profile, field_type: str, field: str) -> str | None:
    """The operator a profile applies to a field ("category.field") of a type, or None."""
    return profile.fields.get(field) or profile.types.get(field_type) or profile.default


class MaskingProfiles:
    """The desensitisation profiles of every audience, compiled to operators once."""

    def __init__(self, profiles: Mapping[str, Profile], *, keyring: Keyring | None = None
                 ) -> None:
        missing = [a for a in AUDIENCES if a not in profiles]
        if missing:
            raise ConfigurationError(f"masking profiles: no profile for {', '.join(missing)}")
        self.profiles = dict(profiles)
        self._keyring = keyring
        self._compiled: dict[tuple[str, str, str], Step | None] = {}
        # Per (audience, category, id of the field types): a copy of the field types and
        # the plan (field name -> step) apply_record made for them.
        self._plans: dict[tuple[str, str, int],
                          tuple[dict[str, str], dict[str, Step | None]]] = {}
        for profile in self.profiles.values():
            for field_type, spec in profile.types.items():
                self._compile(profile.audience, spec, field_type)  # fail at load, not later
            if "pseudonymise" in profile.fields.values():
                self._compile(profile.audience, "pseudonymise", "text")

    @classmethod
    def load(cls, policies_dir: Path, *, keyring: Keyring | None = None) -> MaskingProfiles:
        """Read ``policies_dir/masking.toml``; raises ConfigurationError when it is invalid."""
        return cls(read_profiles(policies_dir), keyring=keyring)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, keyring: Keyring | None = None
                      ) -> MaskingProfiles:
        """Build the profiles from a parsed masking.toml; raises ConfigurationError."""
        return cls(parse_profiles(doc), keyring=keyring)

    def _compile(self, audience: str, spec: str, field_type: str) -> Step | None:
        """The step for an operator and type (cached); None means the field is dropped."""
        key = (audience, spec, field_type)
        if key in self._compiled:
            return self._compiled[key]
        step: Step | None
        if spec == "drop":
            step = None
        elif spec == "pseudonymise":
            keyring = self._keyring
            if keyring is None:
                raise ConfigurationError(f"masking profiles: the {audience} profile "
                                         "pseudonymises, which needs the keyring")
            step = (_pseudonymiser(keyring, audience, normaliser(field_type)), False)
        elif spec == "scan":
            step = (_scan, True)
        else:
            step = (_simple(spec, field_type, audience), False)
        self._compiled[key] = step
        return step

    def step(self, audience: str, field_type: str, field: str = "") -> Step | None:
        """The compiled step for a field (None: dropped); raises UnpublishableField."""
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
        step = self.step(audience, field_type, context.field)
        if step is None:
            return None
        function, wants_names = step
        text = value if isinstance(value, str) else str(value)
        return function(text, context.names) if wants_names else function(text)

    def apply_record(self, audience: str, category: str, values: Mapping[str, str],
                     field_types: Mapping[str, str], *, names: Iterable[str] = (),
                     seen: dict[tuple[str, str], str] | None = None) -> dict[str, str]:
        """Desensitise a record's fields (dropped ones left out); raises UnpublishableField.

        ``seen`` is a value cache the caller keeps for one batch of records of one
        category and audience: what an operator that reads only the value (not the
        record's names) made of a field's value is looked up there first (court names,
        generalised addresses and pseudonyms repeat within a feed; issue 12).
        """
        key = (audience, category, id(field_types))
        cached = self._plans.get(key)
        if cached is not None and cached[0] == field_types:
            plan = cached[1]
        else:  # a new (or changed) mapping of field types: plan it afresh
            if len(self._plans) > _MAX_PLANS:
                self._plans.clear()
            plan = {}
            self._plans[key] = (dict(field_types), plan)
        subjects = names if names.__class__ is tuple else tuple(names)
        out: dict[str, str] = {}
        for name, value in values.items():
            step = plan.get(name, _UNPLANNED)
            if step is _UNPLANNED:
                step = plan[name] = self.step(audience, field_types.get(name, ""),
                                              f"{category}.{name}")
            if step is not None:
                function, wants_names = step
                text = value if value.__class__ is str else str(value)
                if wants_names:
                    out[name] = function(text, subjects)
                elif seen is None:
                    out[name] = function(text)
                else:
                    masked = seen.get((name, text))
                    if masked is None:
                        masked = seen[(name, text)] = function(text)
                    out[name] = masked
        return out


def _pseudonymiser(keyring: Keyring, audience: str, normalise: Callable[[str], str]
                   ) -> Callable[..., str]:
    """The pseudonymise operator of one audience and type (values normalised first)."""
    token = pseudonymiser(keyring, audience)

    def operator(value: str) -> str:
        return token(normalise(value))
    return operator


def _scan(value: str, names: tuple[str, ...]) -> str:
    """The scan operator: mask personal data inside a free text."""
    return mask_free_text(value, names=names)


_UNPLANNED: Step = (_scan, True)  # a marker: never a real step of a plan
_MAX_PLANS = 1024


def _safe(field_type: str) -> str:
    """A field type fit for an error message (types are codes, never personal data)."""
    return repr(field_type) if re.fullmatch(r"[a-z_]{1,32}", str(field_type)) else "<invalid>"


def _safe_field(field: str) -> str:
    """A field name fit for an error message (catalogue codes; anything else is hidden)."""
    return field if re.fullmatch(r"[A-Za-z0-9_.\-]{1,128}", str(field)) else "<invalid>"


def _simple(spec: str, field_type: str, audience: str) -> Callable[[str], str]:
    """keep, mask, mask:F,L, redact and generalise, as functions of the value."""
    if spec == "keep":
        return ops.keep
    if spec == "redact":
        return ops.redact
    if spec == "generalise":
        generaliser = ops.GENERALISERS.get(field_type)
        if generaliser is None:
            raise ConfigurationError(f"masking profiles: the {audience} profile generalises "
                                     f"a {_safe(field_type)}, which has no generalisation")
        return generaliser
    if spec == "mask":
        return ops.TYPE_MASKS.get(field_type, ops.redact)
    params = _MASK_PARAMS.fullmatch(spec)
    assert params is not None  # validated when the profile was parsed
    return ops.mask_keeping(field_type, int(params.group(1)), int(params.group(2)))
