"""Strict TOML files: a parsed document is read into declared types (msgspec) that refuse
an unknown key, a missing one and a value of the wrong type, with the file and line.

A misspelt key (``publc = true``) would otherwise be read as absent and its default
applied silently (a category meant to stay off the public feed, a purpose meant to need
consent). Each policy and key file declares its shape as `Table` subclasses in the module
that owns it; ``decode`` converts the document and, when msgspec refuses it, names the
file, the line, the key path and what was expected:

    catalogue.toml:212: unknown key categories.credit_card.publc
    catalogue.toml:214: categories.credit_card.public must be true or false, not a string
    parties.toml:31: missing key parties.court.kind

Messages never quote a value from the file (it could be personal data or key material);
key names are quoted, as they are codes the author chose. A type's own phrase for a
constrained value is its ``Meta(description=...)``.
"""

from __future__ import annotations

import functools
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from gateway.errors import ConfigurationError

__all__ = ["Table", "decode", "dotted", "key_line", "read_toml"]

T = TypeVar("T")
#: A key path in a document: table keys, and indices into arrays of tables.
KeyPath = Sequence[str | int]


class Table(msgspec.Struct, forbid_unknown_fields=True):
    """A TOML table of declared keys: an unknown key or a missing required one is refused."""


def read_toml(path: Path, file: str | None = None) -> tuple[dict[str, Any], str]:
    """A TOML file's document and its text (for the line of a refused key); raises
    ConfigurationError naming ``file`` (default: the file's name) when it cannot be read."""
    file = file or path.name
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text), text
    except FileNotFoundError:
        raise ConfigurationError(f"{file} is missing", detail=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{file} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{file} cannot be read: {type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names a line and column, never the text found there.
        raise ConfigurationError(f"{file} is not valid TOML: {exc}") from None


def decode(doc: Any, into: type[T], *, file: str, text: str = "",
           at: KeyPath = ()) -> T:
    """The document as the declared type; raises ConfigurationError naming file, line, key
    path and what was expected. ``at`` is where ``doc`` sits in the file (for a part)."""
    try:
        return msgspec.convert(doc, into)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(refusal(doc, into, exc, file=file, text=text, at=at)) \
            from None


def refusal(doc: Any, into: Any, exc: msgspec.ValidationError, *, file: str,
            text: str = "", at: KeyPath = ()) -> str:
    """The message for a refused document: FILE:LINE: what is wrong at which key."""
    path, problem, where = _explain(doc, into, str(exc))
    full = (*at, *path)
    if problem.startswith(_UNKNOWN):
        key = problem[len(_UNKNOWN):]
        return f"{_at(file, text, (*full, key))}: unknown key {dotted((*full, key))}"
    if problem.startswith(_MISSING):
        key = problem[len(_MISSING):]
        return f"{_at(file, text, full)}: missing key {dotted((*full, key))}"
    return f"{_at(file, text, full)}: {dotted(full) or 'the file'} must be " \
           f"{_expected(problem, where)}"


def dotted(path: KeyPath) -> str:
    """A key path as written in messages: ``case[2].party``, ``a.fields."x.y"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[\w-]+", part) else _quoted(part)
            out += f".{name}" if out else name
    return out


def key_line(text: str, path: str | KeyPath) -> int:
    """The line of a TOML text that sets the key at a path (dotted text or parts), as
    `key =` under its table's header, as a `[header]` of its own, or as the `[[header]]`
    of an array's entry (0 when not found, e.g. a key inside an inline table)."""
    target = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
    return _lines(text).get(target, 0)


@functools.lru_cache(maxsize=64)
def _lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Every key path a TOML text writes, and every path above one, with the first line
    at or below it (one pass over the text; kept for the few texts read last, as a
    loader asks for the line of each case of a file)."""
    found: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()
    arrays: dict[tuple[str | int, ...], int] = {}  # array of tables -> entries so far
    for number, line in enumerate(text.split("\n"), start=1):
        if header := _HEADER.match(line):
            keys = _keys(header[2])
            if keys is None:
                continue
            current = _in_arrays(keys, arrays, is_array=header[1] == "[[")
            written = current
        elif (assignment := _ASSIGNMENT.match(line)) and (keys := _keys(assignment[1])):
            written = (*current, *keys)
        else:
            continue
        for end in range(1, len(written) + 1):
            found.setdefault(written[:end], number)
    return found


# ------------------------------------------------------------------ locating a refusal

_UNKNOWN = "Object contains unknown field "
_MISSING = "Object missing required field "
_AT_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")


def _explain(doc: Any, into: Any, message: str) -> tuple[tuple[str | int, ...], str, Any]:
    """msgspec's refusal with every dict key of its path named (msgspec writes ``[...]``
    for a key), the problem with backquoted names unwrapped, and the type found there."""
    m = _AT_PATH.match(message)
    problem, segments = (m["problem"], m["path"] or "") if m else (message, "")
    path: list[str | int] = []
    value, kind = doc, into
    for seg in _SEGMENT.finditer(segments):
        kind = _bare(kind)
        if seg[1] is not None:  # a struct field
            info = _field(kind, seg[1])
            path.append(seg[1])
            value = value.get(seg[1]) if isinstance(value, Mapping) else None
            kind = info.type if info is not None else Any
        elif seg[2] is not None:  # an array index
            path.append(int(seg[2]))
            value = value[int(seg[2])] if isinstance(value, list) else None
            args = typing.get_args(kind)
            kind = args[0] if args else Any
        else:  # a dict value: find the key whose value is refused and explain it there
            args = typing.get_args(kind)
            inner = args[1] if len(args) == 2 else Any
            for key, item in (value.items() if isinstance(value, Mapping) else ()):
                try:
                    msgspec.convert(item, inner)
                except msgspec.ValidationError as exc:
                    sub, sub_problem, sub_kind = _explain(item, inner, str(exc))
                    return (*path, str(key), *sub), sub_problem, sub_kind
            return tuple(path), problem.replace("`", ""), inner
    return tuple(path), problem.replace("`", ""), kind


def _optional(kind: Any) -> Any:
    """A type without None or UNSET in a union of one other type."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(kind) if a not in (type(None), msgspec.UnsetType)]
        if len(others) == 1:
            return others[0]
    return kind


def _bare(kind: Any) -> Any:
    """A type without Annotated and without None or UNSET beside one other type."""
    kind = _optional(kind)
    while typing.get_origin(kind) is typing.Annotated:
        kind = _optional(typing.get_args(kind)[0])
    return kind


def _field(kind: Any, name: str) -> Any:
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return next((f for f in msgspec.structs.fields(kind) if f.encode_name == name), None)
    return None


_WORDS = {"str": "a string", "int": "an integer", "float": "a number",
          "bool": "true or false", "object": "a table", "array": "an array",
          "date": "a date", "datetime": "a date and time", "time": "a time"}
_GOT = {**_WORDS, "bool": "a boolean"}
_EXPECTED = re.compile(r"^Expected (?P<types>[\w |]+?)(?P<bound> (?:>=|<=|>|<) -?[\d.]+)?"
                       r"(?: of length (?P<op>>=|<=) (?P<length>\d+))?"
                       r"(?P<regex> matching regex .*)?"
                       r"(?:, got (?P<got>\w+))?$", re.S)


def _expected(problem: str, kind: Any) -> str:
    """What a value must be, in words, from msgspec's problem and the declared type; never
    a value from the file."""
    m = _EXPECTED.match(problem)
    choices = "one of " + ", ".join(map(str, _choices(kind)))
    if said := _description(kind):
        pass
    elif problem.startswith("Invalid enum value"):  # msgspec quotes the value: never shown
        return choices
    elif m is None:
        return "of another type or form (see the file's comments)"
    else:
        # TOML has no null: an optional key is left out, never set to nothing.
        said = " or ".join(choices if t.strip() == "str" and _choices(kind)
                           else _WORDS.get(t.strip(), t.strip())
                           for t in m["types"].split("|") if t.strip() != "null")
        said += m["bound"] or ""
        if m["length"] == "1" and m["op"] == ">=":
            said = "a non-empty " + said.split(" ", 1)[-1]
        elif m["length"]:
            said += f" of length {m['op']} {m['length']}"
        if m["regex"]:
            said += " in the form the file's comments give"
    if m is not None and m["got"]:
        said += f", not {_GOT.get(m['got'], m['got'])}"
    return said


def _description(kind: Any) -> str:
    kind = _optional(kind)
    while typing.get_origin(kind) is typing.Annotated:
        for meta in typing.get_args(kind)[1:]:
            if isinstance(meta, msgspec.Meta) and meta.description:
                return meta.description
        kind = _optional(typing.get_args(kind)[0])
    return ""


def _choices(kind: Any) -> tuple[object, ...]:
    kind = _bare(kind)
    if typing.get_origin(kind) is Literal:
        return typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return tuple(c for a in typing.get_args(kind) for c in _choices(a))
    return ()


# ------------------------------------------------------------------ lines of a TOML text

_KEY = r"""(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)"""
_KEYS = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEYS})\s*\]")
_ASSIGNMENT = re.compile(rf"^\s*({_KEYS})\s*=")
_ONE_KEY = re.compile(_KEY)


def _keys(written: str) -> tuple[str, ...] | None:
    """The keys of a dotted key as written (quotes removed)."""
    out = []
    for key in _ONE_KEY.findall(written):
        if key[0] == '"':
            try:
                key = tomllib.loads(f"k = {key}")["k"]
            except tomllib.TOMLDecodeError:
                return None
        elif key[0] == "'":
            key = key[1:-1]
        out.append(key)
    return tuple(out)


def _in_arrays(keys: tuple[str, ...], arrays: dict[tuple[str | int, ...], int],
               is_array: bool) -> tuple[str | int, ...]:
    """A header's path with the index of each array-of-tables entry it lies in."""
    path: tuple[str | int, ...] = ()
    for n, key in enumerate(keys):
        path = (*path, key)
        last = n == len(keys) - 1
        if last and is_array:
            arrays[path] = arrays.get(path, 0) + 1
        if path in arrays:
            path = (*path, arrays[path] - 1)
    return path


def _at(file: str, text: str, path: KeyPath) -> str:
    """FILE:LINE of the key at path, or of the nearest table around it written in the
    file (FILE alone when none is)."""
    parts = tuple(path)
    while parts and text:
        line = key_line(text, parts)
        if line:
            return f"{file}:{line}"
        parts = parts[:-1]
    return file


def _quoted(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
