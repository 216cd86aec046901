"""`credgate sign`: the signature headers for one request, for grpcurl and other tools.

The request is given as protobuf JSON (a file or standard input: it may hold an ID
number, which must not appear in the process list). It is encoded once, those bytes are
signed (docs/request-signing.md, scheme v2) and the headers printed. The tool that sends
it must send the same bytes: field-number order, as grpcurl writes a request without map
fields; `--format json` also prints the body for tools that send raw bytes.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import Message

from gateway.api import pb
from gateway.cli.common import EXIT_OK, CliError, command_parser, print_json
from gateway.clock import SystemClock, parse_rfc3339
from gateway.config import default_keys_dir
from gateway.crypto.signatures import load_party_signing_key
from gateway.identify.request_signing import sign_request_bytes

EXAMPLE = """\
credgate sign /credgate.v1.QueryService/QuerySubject --party org_department \\
    --request query.json
# prints -H name:value options; send the same JSON with them:
grpcurl -cacert keys_example/ca.crt -servername localhost \\
    -cert keys_example/parties/org_department.crt \\
    -key keys_example/parties/org_department.key \\
    $(credgate sign ... ) -d @ 127.0.0.1:7443 \\
    credgate.v1.QueryService/QuerySubject < query.json"""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the sign command."""
    sign = command_parser(
        commands, "sign", help="print the signature headers for one request (grpcurl)",
        description="Encode a request given as protobuf JSON, sign those bytes as the "
                    "party (docs/request-signing.md) and print the headers to send with "
                    "it. The headers are good for one call within 120 seconds.",
        example=EXAMPLE)
    sign.add_argument("method", help="the full method, e.g. "
                                     "/credgate.v1.QueryService/QuerySubject")
    sign.add_argument("--party", required=True, help="the party whose key signs")
    sign.add_argument("--request", default="-", metavar="FILE",
                      help="the request as protobuf JSON (default: standard input)")
    sign.add_argument("--keys", type=Path, default=default_keys_dir(),
                      help="keys directory written by `credgate keys init` "
                           "(default: the development keys)")
    sign.add_argument("--format", choices=("grpcurl", "headers", "json"), default="grpcurl",
                      help="grpcurl: -H NAME:VALUE options (safe to paste with $(...)); "
                           "headers: NAME: VALUE lines; json: the headers, digest and body "
                           "(default: %(default)s)")
    sign.add_argument("--time", default=None, metavar="RFC3339",
                      help="sign for this time instead of now (a gateway with a set clock)")
    sign.set_defaults(handler=run_sign)


def request_type(method: str) -> type[Message]:
    """The request message class of a credgate method path; raises CliError."""
    service_name, _, method_name = method.lstrip("/").rpartition("/")
    service = pb.DESCRIPTOR.services_by_name.get(
        service_name.removeprefix(f"{pb.DESCRIPTOR.package}."))
    found = service.methods_by_name.get(method_name) if service is not None else None
    if found is None or not service_name.startswith(f"{pb.DESCRIPTOR.package}."):
        raise CliError("unknown method: give the full path, e.g. "
                       "/credgate.v1.QueryService/QuerySubject")
    message_class: type[Message] = getattr(pb, found.input_type.name)
    return message_class


def _read_request(source: str) -> str:
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read the request file ({type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise CliError("the request is not UTF-8 text") from None


def run_sign(args: argparse.Namespace) -> int:
    """Sign one request and print its headers."""
    method = "/" + args.method.lstrip("/")
    message_class = request_type(method)
    request = message_class()
    try:
        json_format.Parse(_read_request(args.request), request)
    except (json_format.ParseError, ValueError, RecursionError):
        # The parser's message may quote the request (an ID number): never print it.
        raise CliError(f"the request is not a {message_class.DESCRIPTOR.name} in protobuf "
                       "JSON") from None
    try:
        now = SystemClock().now() if args.time is None else parse_rfc3339(args.time)
    except ValueError:
        raise CliError("--time must be an RFC 3339 time such as 2026-11-28T09:00:00Z") from None
    key = load_party_signing_key(args.keys / "parties" / f"{args.party}.sign.key")
    body = request.SerializeToString()
    try:
        signed = sign_request_bytes(key, method=method, party=args.party, body=body, now=now)
    except ValueError:
        raise CliError("the party id cannot be signed: one word of printable ASCII") from None
    if args.format == "json":
        print_json({"method": method, "party": args.party, "headers": dict(signed.headers),
                    "digest": signed.digest,
                    "body_base64": base64.b64encode(body).decode("ascii")})
    elif args.format == "headers":
        print("\n".join(f"{name}: {value}" for name, value in signed.headers))
    else:
        # No spaces or shell quotes in any header: $(credgate sign ...) splits into
        # exactly these words, and grpcurl reads NAME:VALUE without a space.
        print(" ".join(f"-H {name}:{value}" for name, value in signed.headers))
    return EXIT_OK
