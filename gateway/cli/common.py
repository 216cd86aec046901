"""Helpers shared by the command modules: client set-up, errors, tables."""

from __future__ import annotations

import argparse
import json
import secrets
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.client import DEFAULT_SERVER_NAME, CredgateClient, PartyCredentials
from gateway.config import default_keys_dir

EXIT_OK, EXIT_REFUSED, EXIT_BROKEN = 0, 1, 2


class CliError(Exception):
    """A failure the command explains in one line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_BROKEN) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class _ExampleFormatter(argparse.HelpFormatter):
    """Wraps the description as usual but prints the example exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example:\n"):
            return text
        return super()._fill_text(text, width, indent)


def command_parser(commands: argparse._SubParsersAction, name: str, *, help: str,
                   description: str, example: str) -> argparse.ArgumentParser:
    """A sub-command whose --help ends with an example (kept as written)."""
    return commands.add_parser(name, help=help, description=description,
                               epilog=example_epilog(example),
                               formatter_class=_ExampleFormatter)


def example_epilog(example: str) -> str:
    """The --help epilog that shows an example as written."""
    return "example:\n" + "\n".join("  " + line for line in example.splitlines())


def example_formatter() -> type[argparse.HelpFormatter]:
    """The help formatter that keeps an example's lines as written."""
    return _ExampleFormatter


def add_client_options(parser: argparse.ArgumentParser, *, party: str | None = None) -> None:
    """Options every client command takes: gateway address, party and its keys.

    ``party`` is the command's usual party (the portal for consents, the regulator for
    the log); without one, --party must be given.
    """
    parser.add_argument("--target", default="127.0.0.1:7443",
                        help="gateway address host:port (default: %(default)s)")
    parser.add_argument("--party", required=party is None, default=party,
                        help="the party to act as; its certificate is keys/parties/PARTY.crt"
                             + (" (default: %(default)s)" if party else ""))
    parser.add_argument("--server-name", default=None,
                        help="the name the gateway's certificate must carry (default: the "
                             "target's host, or localhost for a loopback address)")
    parser.add_argument("--keys", type=Path, default=default_keys_dir(),
                        help="keys directory written by `credgate keys init` "
                             "(default: the development keys)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def connect(args: argparse.Namespace) -> CredgateClient:
    """A client for the party and gateway the options name; raises CliError when the
    party's key files are missing."""
    credentials = PartyCredentials.from_keys_dir(args.keys, args.party)
    for path in (credentials.ca, credentials.cert, credentials.key, credentials.signing_key):
        if not path.is_file():
            hint = ("is --party right?" if args.keys.is_dir() and credentials.ca.is_file()
                    else "point --keys at the folder `credgate keys init DIR` wrote")
            raise CliError(f"no key file {path} for party {args.party}: {hint}")
    return CredgateClient(args.target, credentials,
                          server_name=args.server_name or server_name_of(args.target))


def server_name_of(target: str) -> str:
    """The certificate name to expect for a target: its host, localhost for loopback."""
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    if host in ("", "localhost", "::1") or host.startswith("127."):
        return DEFAULT_SERVER_NAME  # the development certificates name the server so
    return host


def rpc_failure(err: Any, args: argparse.Namespace | None = None) -> int:
    """Print a gRPC failure, with what to do about it, and return its exit code."""
    from gateway.cli.advice import explain_rpc_error

    code, line = explain_rpc_error(err, args)
    print(f"credgate: {line}", file=sys.stderr)
    return code


def display_width(text: str) -> int:
    """Columns a text takes on a terminal (CJK characters count double)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def wrap_cell(text: str, width: int) -> list[str]:
    """A cell's text in lines of at most ``width`` columns, broken at spaces if it can."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if display_width(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while display_width(word) > width:  # a word longer than the column is cut,
                cut = _cut(word, width)          # after _ . / - where it can be
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _cut(word: str, width: int) -> int:
    """Where to cut a word too wide for its column: after the last separator that fits."""
    fits = 0
    while fits < len(word) and display_width(word[:fits + 1]) <= width:
        fits += 1
    seps = [i + 1 for i, ch in enumerate(word[:fits]) if ch in "_./-:"]
    return seps[-1] if seps and seps[-1] > fits // 3 else max(fits, 1)


#: Narrowest a column is squeezed to when a table must fit a width.
MIN_COLUMN = 8


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                max_width: int | None = None) -> None:
    """Print rows as an aligned text table (CJK characters count double).

    With ``max_width``, the widest columns are narrowed and their cells wrapped onto
    further lines until the table fits.
    """
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([display_width(h)] + [max(map(display_width, r[i].split("\n")))
                                        for r in cells]) for i, h in enumerate(headers)]
    if max_width is not None:
        cell_widths = [[display_width(r[i]) for r in cells] for i in range(len(headers))]
        while sum(widths) + 2 * (len(widths) - 1) > max_width:
            # Narrow the column where the fewest cells would wrap (then the widest).
            narrowable = [i for i, w in enumerate(widths) if w > MIN_COLUMN]
            if not narrowable:
                break
            cheapest = min(narrowable, key=lambda i: (
                sum(w >= widths[i] for w in cell_widths[i]), -widths[i]))
            widths[cheapest] -= 1

    def lines(values: Sequence[str]) -> list[str]:
        wrapped = [wrap_cell(v, w) for v, w in zip(values, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        out = []
        for n in range(height):
            parts = [(w[n] if n < len(w) else "") for w in wrapped]
            out.append("  ".join(v + " " * (w - display_width(v))
                                 for v, w in zip(parts, widths, strict=True)).rstrip())
        return out

    print("\n".join(lines(list(headers))))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("\n".join(lines(row)))


def terminal_width(low: int = 80, high: int = 100) -> int:
    """The terminal's width, kept between ``low`` and ``high`` (80 when not a terminal)."""
    import shutil

    return max(low, min(high, shutil.get_terminal_size((low, 24)).columns))


def print_json(value: Any) -> None:
    """Print a value as indented JSON (UTF-8, not escaped)."""
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


#: What to write for an ID number read from standard input rather than the command line.
FROM_STDIN = "-"
ID_HELP = (" (or - to read it from standard input, so that it does not show in the "
           "process list)")


def id_number_argument(value: str) -> str:
    """An ID number given on the command line, or read from standard input for "-".

    Arguments are visible to other local users (ps, /proc): personal data belongs on
    standard input.
    """
    if value != FROM_STDIN:
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise ValueError("no ID number on standard input")
    return line


def message_dict(message: Any) -> dict[str, Any]:
    """A protobuf message as plain JSON data, every field present, numbers as numbers."""
    from google.protobuf.json_format import MessageToDict

    data: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    return _numbers(data, message)


def _numbers(data: dict[str, Any], message: Any) -> dict[str, Any]:
    """Undo protobuf JSON's 64-bit integers as strings (our counters fit a double)."""
    for fd in message.DESCRIPTOR.fields:
        value = data.get(fd.name)
        if fd.type in (fd.TYPE_UINT64, fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_FIXED64):
            if isinstance(value, list):
                data[fd.name] = [int(v) for v in value]
            elif value is not None:
                data[fd.name] = int(value)
        elif (fd.message_type is not None and value is not None
              and not fd.message_type.GetOptions().map_entry):
            sub = getattr(message, fd.name)
            if isinstance(value, list):
                data[fd.name] = [_numbers(v, m) for v, m in zip(value, sub, strict=True)]
            elif isinstance(value, dict):
                data[fd.name] = _numbers(value, sub)
    return data


def show(args: argparse.Namespace, value: Any, headers: Sequence[str],
         rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> None:
    """Print JSON with --json, else the rows as a table (or a line when there are none)."""
    if getattr(args, "json", False):
        print_json(value)
    elif rows:
        print_table(headers, rows)
    else:
        print(empty)


def fresh_source_id(prefix: str) -> str:
    """A new source record id for a record the portal files for a person: letters only,
    so that no run of its characters reads as a mobile or ID number (intake refuses one)."""
    return f"{prefix}-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(26))
