"""Broken variants of a strictly declared file (gateway.strict_toml), for the tests of
every file kind: each declared key misspelt, each required key removed, each value of
the wrong type (and a negative number where a bound forbids it).

The variants are made from a real file and its declared type, walked side by side, one
variant per key *shape* (category codes, party ids and the entries of an array collapse),
so every key of every table is broken without repeating a table for each category. Each
variant carries the exact message the loader must give: ``FILE:LINE: ...`` with the line
of the key (or of the nearest table around it that the file writes).
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from gateway.strict_toml import dotted, key_line

Path_ = tuple[str | int, ...]
#: A wrong value that must never appear in a message (it stands for personal data).
SENTINEL = "SENTINEL-110105194912310021"
#: Wrong values tried in turn; the first the declared type refuses is used.
_WRONG: tuple[object, ...] = (SENTINEL, True, 987_654_321, {"x": SENTINEL}, [SENTINEL])


@dataclass(frozen=True)
class Variant:
    """A broken document, the text its lines are found in, and the message it must get."""

    kind: Literal["misspelt", "misspelt in the file", "missing", "wrong type", "out of range"]
    path: Path_
    #: The broken document (None: parse ``text``, which holds the break).
    doc: dict[str, Any] | None
    text: str
    expected: str
    #: The key broken, as the file has it (a misspelt variant's path holds the typo).
    origin: Path_ = ()

    @property
    def id(self) -> str:
        """A test id: the kind and the key path."""
        return f"{self.kind}:{dotted(self.path)}"


def misspellings(key: str) -> set[str]:
    """Typos of a key: a letter dropped, two letters swapped, one doubled, a capital."""
    out = {key[:i] + key[i + 1:] for i in range(len(key))}
    out |= {key[:i] + key[i + 1] + key[i] + key[i + 2:] for i in range(len(key) - 1)}
    out |= {key[:i] + key[i] + key[i:] for i in range(len(key))}
    out.add(key.capitalize())
    return out - {key}


def variants(file: str, text: str, into: Any, *, drop: tuple[str, ...] = (),
             every_typo: bool = True) -> list[Variant]:
    """Every broken variant of the file (``drop``: top-level keys the declared type does
    not cover, such as masking.toml's version)."""
    doc = {k: v for k, v in tomllib.loads(text).items() if k not in drop}
    out: list[Variant] = []
    for path, table, field, required in _shapes(doc, into):
        line = nearest(text, path)
        here = f"{file}:{line}" if line else file
        if field is None:  # the table itself: remove each required key
            where = nearest(text, path)
            at = f"{file}:{where}" if where else file
            for key in required:
                broken = _copied(doc, path)
                del _get(broken, path)[key]
                out.append(Variant("missing", (*path, key), broken, text,
                                   f"{at}: missing key {dotted((*path, key))}", (*path, key)))
            continue
        allowed = {f.encode_name for f in msgspec.structs.fields(table)}
        key = str(path[-1])
        typos = sorted(misspellings(key) - allowed)
        if every_typo:
            parent = nearest(text, path[:-1])
            at = f"{file}:{parent}" if parent else file
            for typo in typos:
                broken = _copied(doc, path[:-1])
                holder = _get(broken, path[:-1])
                holder[typo] = holder.pop(key)
                out.append(Variant("misspelt", (*path[:-1], typo), broken, text,
                                   f"{at}: unknown key {dotted((*path[:-1], typo))}", path))
        written = [t for t in typos if t not in _get(doc, path[:-1])]
        edited = _misspell_in_text(text, path, written)
        if edited is not None:
            typo, new_text = edited
            out.append(Variant("misspelt in the file", (*path[:-1], typo), None, new_text,
                               f"{here}: unknown key {dotted((*path[:-1], typo))}", path))
        kind = field.type
        for name, candidates in (("wrong type", _WRONG), ("out of range", (-1,))):
            value = next((c for c in candidates if _refused(c, kind)), None)
            if value is None or (name == "out of range" and not _bounded(kind)):
                continue
            broken = _copied(doc, path[:-1])
            _get(broken, path[:-1])[key] = value
            out.append(Variant(name, path, broken, text, f"{here}: {dotted(path)} must be ",
                               path))
    return out


def grouped(found: list[Variant]) -> list[list[Variant]]:
    """The variants in test-sized groups: the misspellings of one key together, every
    other variant alone."""
    groups: dict[tuple[str, Path_], list[Variant]] = {}
    singles: list[list[Variant]] = []
    for variant in found:
        if variant.kind == "misspelt":
            groups.setdefault((variant.kind, variant.origin), []).append(variant)
        else:
            singles.append([variant])
    return [*groups.values(), *singles]


def group_id(group: list[Variant]) -> str:
    """A test id for a group: its kind and the key it breaks."""
    return f"{group[0].kind}:{dotted(group[0].origin)}"


def document(variant: Variant, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The variant's broken document."""
    if variant.doc is not None:
        return variant.doc
    return {k: v for k, v in tomllib.loads(variant.text).items() if k not in drop}


def check(variant: Variant, load: Callable[[dict[str, Any], str], object],
          error: type[Exception], drop: tuple[str, ...] = ()) -> str:
    """Load a variant, expecting the refusal it names; returns the message."""
    try:
        load(document(variant, drop), variant.text)
    except error as exc:
        message = str(getattr(exc, "message", exc))
    else:
        raise AssertionError(f"{variant.id} was accepted")
    if variant.kind in ("wrong type", "out of range"):
        assert message.startswith(variant.expected), (message, variant.expected)
    else:
        assert message == variant.expected, (message, variant.expected)
    assert SENTINEL not in message and "987654321" not in message, message
    return message


def nearest(text: str, path: Path_) -> int:
    """The line of the key at path, or of the nearest table around it the file writes."""
    while path:
        line = key_line(text, path)
        if line:
            return line
        path = path[:-1]
    return 0


# ------------------------------------------------------------------ walking a declared type


def _bare(kind: Any) -> Any:
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif typing.get_origin(kind) in (typing.Union, types.UnionType):
            others = [a for a in typing.get_args(kind)
                      if a not in (type(None), msgspec.UnsetType)]
            if len(others) != 1:
                return kind
            kind = others[0]
        else:
            return kind


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _shapes(doc: Any, into: Any) -> Iterator[tuple[Path_, Any, Any, tuple[str, ...]]]:
    """(path, struct, field or None, required keys) once per shape: each table (field
    None, with its required keys) and each declared key present in the document."""
    seen: set[tuple[str, ...]] = set()

    def walk(value: Any, kind: Any, path: Path_, shape: tuple[str, ...]) -> Iterator[Any]:
        kind = _bare(kind)
        if _is_struct(kind) and isinstance(value, dict):
            fields = msgspec.structs.fields(kind)
            if shape not in seen:
                seen.add(shape)
                required = tuple(f.encode_name for f in fields if f.required
                                 and f.encode_name in value)
                yield path, kind, None, required
            for field in fields:
                if field.encode_name not in value:
                    continue
                sub = (*shape, field.encode_name)
                if sub not in seen:
                    seen.add(sub)
                    yield (*path, field.encode_name), kind, field, ()
                yield from walk(value[field.encode_name], field.type,
                                (*path, field.encode_name), sub)
        elif typing.get_origin(kind) is dict and isinstance(value, dict):
            inner = typing.get_args(kind)[1]
            for key, item in value.items():
                yield from walk(item, inner, (*path, key), (*shape, "*"))
        elif typing.get_origin(kind) in (list, tuple) and isinstance(value, list):
            inner = typing.get_args(kind)[0]
            for index, item in enumerate(value):
                yield from walk(item, inner, (*path, index), (*shape, "#"))

    yield from walk(doc, into, (), ())


def _copied(doc: dict[str, Any], path: Path_) -> dict[str, Any]:
    """The document with every table and array on the path copied (the rest is shared),
    so that the table at path can be changed alone."""
    top = dict(doc)
    holder: Any = top
    for part in path:
        inner = holder[part]
        holder[part] = dict(inner) if isinstance(inner, dict) else list(inner)
        holder = holder[part]
    return top


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _refused(value: object, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return True
    return False


def _bounded(kind: Any) -> bool:
    """Whether an int or float type has a lower bound (a period, a count)."""
    return bool(re.search(r"\b(ge|gt)=", repr(kind))) and _bare(kind) in (int, float)


def _misspell_in_text(text: str, path: Path_, typos: list[str]) -> tuple[str, str] | None:
    """The text with the key at path misspelt where it is written (a typo that names no
    key of the table, so the text still parses), or None when the key is not written on
    a line of its own table."""
    line = nearest(text, path)
    if not line or not typos:
        return None
    lines = text.split("\n")
    key = re.escape(str(path[-1]))
    # As a key: before "=", or as a part of a dotted key or a [header].
    pattern = re.compile(rf"(?<![\w\"'-]){key}(?=\s*(=|\.|\]))")
    typo = typos[0]
    edited = pattern.sub(typo, lines[line - 1], count=1)
    if edited == lines[line - 1]:
        return None
    text = "\n".join((*lines[:line - 1], edited, *lines[line:]))
    if edited.lstrip().startswith("["):
        # A renamed [header] may leave its sub-tables' headers naming another kind of
        # table (an array's [[a.b]] under a renamed [[a]]): not a file one can write.
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None
    return typo, text
