"""Reading a records file for `credgate submit`: encodings, rows with their line numbers,
and every problem found before anything is sent.

A problem names the file line and the column (CSV) or key (JSON) and never a value but
a catalogue code, so an ID number in a bad row is not echoed to the terminal or a log.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Catalogue, Party
from gateway.cli.advice import nearest
from gateway.cli.common import CliError
from gateway.errors import CredgateError
from gateway.validate.requests import RawRecord, holds_personal_number, validate_record

REQUIRED = ("subject_id", "category", "severity", "event_date", "source_record_id")
OPTIONAL = ("domain", "occupation", "county")
RECORD_KEYS = (*REQUIRED, *OPTIONAL, "fields")
SUFFIXES = (".json", ".csv")
_CHUNK = 1 << 20
_WHERE = re.compile(r"^record \d+: ")


@dataclass(frozen=True)
class Row:
    """One record as read, with the file line it starts on and its CSV columns."""

    line: int
    record: dict[str, Any]
    columns: Mapping[str, int] = field(default_factory=dict)

    def place(self, key: str) -> str:
        """Where a key of this row is: 'column 3 (category)' or 'key category'."""
        if key in self.columns:
            return f"column {self.columns[key]} ({key})"
        return f"key {key}" if key else "record"


@dataclass(frozen=True)
class Problem:
    """A bad row: where it is and what is wrong (no personal data)."""

    line: int
    place: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.place}: {self.message}"


def check_suffix(path: Path) -> None:
    """Refuse a file that is neither .json nor .csv; raises CliError."""
    if path.suffix.lower() not in SUFFIXES:
        raise CliError(f"{path.name}: only .json and .csv files can be submitted (this is "
                       f"'{path.suffix or 'no extension'}'); save a spreadsheet as "
                       "\"CSV UTF-8\"")


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' or 'gb18030' (GBK files are GB 18030); raises CliError for neither."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        return encoding
    raise CliError(f"{path.name} is neither UTF-8 nor GB 18030/GBK text; convert it, e.g. "
                   f"`iconv -f GB18030 -t UTF-8 {path.name} > utf8.{path.suffix.lstrip('.')}`"
                   ", or save it from the spreadsheet as \"CSV UTF-8\"")


def read_rows(path: Path, encoding: str) -> Iterator[Row | Problem]:
    """Every row of the file in order, or a Problem for a row that is not a record."""
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path, encoding)
    else:
        yield from _json_rows(path, encoding)


def _csv_rows(path: Path, encoding: str) -> Iterator[Row | Problem]:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            unknown = [h for h in header if h not in (*REQUIRED, *OPTIONAL)
                       and not (h.startswith("field.") and len(h) > len("field."))]
            doubled = sorted({h for h in header if header.count(h) > 1})
            if unknown or doubled:
                what = (f"unknown column(s) {', '.join(_code(u) for u in unknown)}"
                        + "".join(nearest(u, (*REQUIRED, *OPTIONAL)) for u in unknown[:1])
                        if unknown else f"column(s) named twice: {', '.join(doubled)}")
                raise CliError(f"{path.name} line 1: {what}; the header may hold "
                               + ", ".join((*REQUIRED, *OPTIONAL)) + " and field.NAME")
            missing = [k for k in REQUIRED if k not in header]
            if missing:
                raise CliError(f"{path.name} line 1: the header lacks the column(s) "
                               + ", ".join(missing))
            columns = {h: i + 1 for i, h in enumerate(header)}
            columns.update({h[len("field."):]: i + 1 for i, h in enumerate(header)
                            if h.startswith("field.")})
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue  # a blank line
                if len(row) != len(header):
                    yield Problem(line, "row", f"{len(row)} values for {len(header)} columns")
                    continue
                values = dict(zip(header, row, strict=True))
                record: dict[str, Any] = {k: values[k] for k in (*REQUIRED, *OPTIONAL)
                                          if k in values}
                record["fields"] = {k[len("field."):]: v for k, v in values.items()
                                    if k.startswith("field.") and v}
                yield Row(line, record, columns)
        except csv.Error as exc:
            raise CliError(f"{path.name} line {reader.line_num}: {exc} (an unclosed quote "
                           "swallows the rows after it)") from None


def _json_rows(path: Path, encoding: str) -> Iterator[Row | Problem]:
    """The records of a JSON list (or {"records": [...]}), one element at a time: the
    document is never built whole, and each record knows the line it starts on."""
    text = path.read_text(encoding=encoding)
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def skip(at: int) -> int:
        return ws.match(text, at).end()  # type: ignore[union-attr]

    def fail(at: int, what: str) -> CliError:
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return CliError(f"{path.name} line {line}, column {column}: {what}")

    def decode(at: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path.name} line {exc.lineno}, column {exc.colno}: not valid "
                           f"JSON ({exc.msg})") from None
        except (RecursionError, ValueError):  # nested too deeply, a number too long
            raise CliError(f"{path.name}: not valid JSON (nested too deeply or a number "
                           "with too many digits)") from None

    shape = 'expected a list of records or {"records": [...]}'
    pos = skip(0)
    wrapped = text.startswith("{", pos)
    if wrapped:
        pos = skip(pos + 1)
        key, pos = decode(pos)
        pos = skip(pos)
        if key != "records" or not text.startswith(":", pos):
            raise fail(pos, shape)
        pos = skip(pos + 1)
    if not text.startswith("[", pos):
        raise fail(pos, shape)
    pos = skip(pos + 1)
    first, line, counted = True, 1, 0
    while not text.startswith("]", pos):
        if not first:
            if not text.startswith(",", pos):
                raise fail(pos, "expected , or ] between records")
            pos = skip(pos + 1)
        first = False
        line += text.count("\n", counted, pos)  # counted on from the last record: linear
        counted = pos
        value, pos = decode(pos)
        pos = skip(pos)
        yield Row(line, value) if isinstance(value, dict) else Problem(
            line, "record", "a record must be an object")
    pos = skip(pos + 1)
    if wrapped:
        if not text.startswith("}", pos):
            raise fail(pos, 'the object may hold only "records"')
        pos = skip(pos + 1)
    if pos != len(text):
        raise fail(pos, "text after the records")


def _code(text: str) -> str:
    """A key or code from the file, quoted, unless it reads as personal data."""
    return "(a value that reads as personal data)" if holds_personal_number(text) else repr(text)


def check_row(row: Row, *, catalogue: Catalogue | None, party: Party | None,
              today: date) -> list[Problem]:
    """Every structural problem of a row, then the first the catalogue finds."""
    rec, out = row.record, []
    for key in rec:
        if key not in RECORD_KEYS:
            out.append(Problem(row.line, "record", f"unknown key {_code(key)}"
                               + nearest(key, RECORD_KEYS)))
    for key in REQUIRED:
        value = rec.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(Problem(row.line, row.place(key), f"{key} is required"))
        elif not isinstance(value, str):
            out.append(Problem(row.line, row.place(key), f"{key} must be text"))
    fields = rec.get("fields", {})
    if not isinstance(fields, dict):
        out.append(Problem(row.line, row.place("fields"), "fields must be an object of texts"))
        fields = {}
    for name, value in fields.items():
        if not isinstance(value, str):
            out.append(Problem(row.line, row.place(name) if name in row.columns
                               else f"field {_code(name)}",
                               "must be text (not null, a number or true/false)"))
    if out or catalogue is None or party is None:
        return out
    return _catalogue_problems(row, catalogue, party, today)


def _catalogue_problems(row: Row, catalogue: Catalogue, party: Party,
                        today: date) -> list[Problem]:
    rec = row.record
    for key, known in (("category", catalogue.categories), ("severity", catalogue.severities),
                       ("domain", catalogue.domains), ("occupation", catalogue.occupations),
                       ("county", catalogue.counties)):
        value = rec.get(key) or ""
        if value and value not in known:
            return [Problem(row.line, row.place(key),
                            f"unknown {key} {_code(value)}{nearest(value, known)}")]
    raw = RawRecord(subject_id=rec["subject_id"], category=rec["category"],
                    severity=rec["severity"], event_date=rec["event_date"],
                    fields=rec.get("fields", {}), source_record_id=rec["source_record_id"],
                    domain=rec.get("domain", ""), occupation=rec.get("occupation", ""),
                    county=rec.get("county", ""))
    try:
        validate_record(raw, index=0, provider=party, catalogue=catalogue, today=today)
    except CredgateError as exc:
        message = _WHERE.sub("", exc.message)
        return [Problem(row.line, _place_of(row, message), message)]
    return []


def _place_of(row: Row, message: str) -> str:
    """The column a validation message is about (it names the key or field)."""
    for key in (*REQUIRED, *OPTIONAL):
        if key in message:
            return row.place(key)
    named = re.search(r"field '?([a-z][a-z0-9_]*)", message)
    if named and named.group(1) in row.record.get("fields", {}):
        name = named.group(1)
        return row.place(name) if name in row.columns else f"field {name}"
    return "record"
