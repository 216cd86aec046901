"""What `credgate serve` checks before it starts and says when it starts and stops.

Ordinary set-up mistakes (a port in use, an address without a host, a port over 65535,
a server certificate that cannot be read or does not match its key) are one line and
exit code 2, found before the gateway opens anything.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from gateway.cli.common import CliError
from gateway.config import Config
from gateway.crypto.key_files import MARKER_FILE
from gateway.crypto.tls_files import check_server_tls

ACCESS_LOGGER = "credgate.access"


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) as host and port; raises CliError when malformed."""
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit():
        # One example only: several addresses in a row read as one long number to the
        # personal-number check every CLI message passes (cli/__init__._safe).
        raise CliError(f"listen address '{text}' needs HOST:PORT (an IPv6 host in "
                       "brackets), e.g. 127.0.0.1:7443")
    port = int(port_text)
    if port > 65535:
        raise CliError(f"listen port {port} is over 65535")
    return host, port


def check_port_free(host: str, port: int) -> None:
    """Raise CliError when another program already listens on host:port."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise CliError(f"listen host '{host}' is not an address of this machine") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # gRPC binds with SO_REUSEADDR too: only a live listener makes this bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on {host} is in use (another credgate serve?); "
                               "stop it or pick another with --listen HOST:PORT") from None
            raise CliError(f"cannot listen on {host}:{port}: "
                           f"{exc.strerror or exc}") from None


def check_setup(config: Config, *, port_check: bool = True) -> None:
    """Every check made before the gateway opens; raises CliError or ConfigurationError."""
    host, port = parse_listen(config.listen)
    keys = config.keys_dir
    if not keys.is_dir():
        raise CliError(f"no keys folder {keys}: create one with `credgate keys init DIR` "
                       "and pass --keys DIR")
    check_server_tls(keys / "gateway.crt", keys / "gateway.key", keys / "ca.crt")
    if port_check:
        check_port_free(host, port)


def store_text(config: Config) -> str:
    """The store, a PostgreSQL conninfo without its password."""
    if config.database == "sqlite":
        return f"SQLite files in the data dir ({config.records_db.name}, {config.audit_db.name})"
    parts = urlsplit(config.database)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return "PostgreSQL " + urlunsplit(parts._replace(netloc=netloc))
    return "PostgreSQL " + config.database.split(" password=")[0]


def start_block(config: Config, *, port: int, policy_version: str | None,
                access_log: bool, workers: int = 1) -> str:
    """The lines `serve` prints once it listens."""
    host, _ = parse_listen(config.listen)
    shown = f"[{host}]" if ":" in host else host
    dev = " (DEVELOPMENT keys: never serve real data with them)" if (
        config.keys_dir / MARKER_FILE).exists() else ""
    two = ("on: a policy change waits for a second security officer" if config.two_person
           else "off (development only)")
    rows = [("address", f"{shown}:{port} (mTLS required)"),
            ("data dir", str(config.data_dir)),
            ("store", store_text(config)),
            ("keys", f"{config.keys_dir}{dev}"),
            ("policies", f"{config.policies_dir}, version "
                         + (policy_version[:16] if policy_version else "loaded by each worker")),
            ("two-person", two),
            ("workers", f"{config.max_workers} threads" if workers == 1 else
                        f"{workers} processes of {config.max_workers} threads each"),
            ("access log", "on (one line per call on stderr)" if access_log else "off")]
    return "\n".join([f"credgate serving on port {port}",
                      *(f"  {k:<11} {v}" for k, v in rows),
                      "Ctrl-C stops; SIGHUP takes rotated keys and rolls out the policy files"])


def enable_access_log(stream: TextIO | None = None) -> logging.Handler:
    """Show the gateway's access lines (logger credgate.access) on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler

