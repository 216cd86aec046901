"""Prometheus metrics for operators, on a port of their own (issue 16 item 4).

Every metric is declared here, under the ``credgate_`` prefix, in one registry per
gateway (so several gateways in one process never share counters). Label values carry
no personal data and their number is bounded: a method is one of the credgate.v1
methods, a party or purpose a code of the running catalogue, a decision or status one of
a fixed set; anything else (a caller's made-up method, an unidentified caller, a code a
rollout removed) folds into ``other``, and an empty value is ``none``.

The endpoint (``metrics_port`` in the config, off by default, bound to 127.0.0.1 unless
``metrics_host`` says otherwise) is served by prometheus_client's own HTTP server. With
``credgate serve --workers N`` each worker serves its own endpoint, worker *i* on
``metrics_port + i`` (per-worker endpoints rather than the multiprocess mode, so the
values read at scrape time, such as log size and health, stay live): scrape all N.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.api import pb

__all__ = ["DECISIONS", "METHODS", "NONE", "OTHER", "STATUSES", "Metrics", "MetricsEndpoint",
           "ScrapeReadings", "bounded", "method_label", "start_metrics_endpoint"]

log = logging.getLogger("credgate.metrics")

PREFIX = "credgate_"
#: The label value of anything outside a label's known values.
OTHER = "other"
#: The label value of an empty value (an unidentified caller, a call without purpose).
NONE = "none"
#: Every credgate.v1 method, as "Service/Method".
METHODS = frozenset(f"{service.name}/{method.name}"
                    for service in pb.DESCRIPTOR.services_by_name.values()
                    for method in service.methods)
DECISIONS = frozenset({"allow", "deny", "error"})
#: gRPC status names (grpc.StatusCode), written out so this module needs no grpc import.
STATUSES = frozenset({
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"})
#: Latency buckets in seconds: a call takes from about a millisecond to a few seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)


def bounded(value: str, known: Collection[str]) -> str:
    """A label value: `value` when known, ``none`` when empty, else ``other``."""
    if not value:
        return NONE
    return value if value in known else OTHER


def method_label(method: str) -> str:
    """The label of a gRPC method name ("/credgate.v1.QueryService/QuerySubject" or
    "credgate.v1.QueryService/QuerySubject" -> "QueryService/QuerySubject")."""
    name = method.lstrip("/")
    package = pb.DESCRIPTOR.package + "."
    return bounded(name[len(package):] if name.startswith(package) else "", METHODS)


@dataclass(frozen=True)
class ScrapeReadings:
    """What is read afresh at each scrape: each callable raises when it cannot answer."""

    #: Entries in the shared audit log.
    log_size: Callable[[], int]
    #: The time of the newest signed checkpoint (None when there is none yet).
    checkpoint_time: Callable[[], datetime | None]
    #: Probes by component ("store", "audit_log"): each raises when it is unreachable.
    health: Mapping[str, Callable[[], None]]
    now: Callable[[], datetime]


class _ScrapeCollector(Collector):
    """Log size, checkpoint age and health, read when Prometheus scrapes."""

    def __init__(self, readings: ScrapeReadings) -> None:
        self._readings = readings

    def collect(self) -> Iterable[Metric]:
        r = self._readings
        up = GaugeMetricFamily(PREFIX + "component_up", "1 when the component answers a "
                               "probe, 0 when it does not", labels=["component"])
        for component, probe in r.health.items():
            up.add_metric([component], 1.0 if _answers(probe) else 0.0)
        yield up
        size = _reading(r.log_size)
        if size is not None:
            yield GaugeMetricFamily(PREFIX + "audit_log_entries",
                                    "Entries in the shared audit log (its size)", value=size)
        signed = _reading(r.checkpoint_time)
        if signed is not None:
            age = max(0.0, (r.now() - signed).total_seconds())
            yield GaugeMetricFamily(PREFIX + "audit_checkpoint_age_seconds",
                                    "Seconds since the newest signed checkpoint", value=age)


def _answers(probe: Callable[[], None]) -> bool:
    try:
        probe()
    except Exception:  # any failure means down; the health watch logs the reason
        return False
    return True


def _reading(read: Callable[[], Any]) -> Any:
    """A scrape-time value, or None when it cannot be read now (the metric is left out)."""
    try:
        return read()
    except Exception as exc:
        log.debug("metric reading failed: %s", type(exc).__name__)
        return None


class Metrics:
    """The gateway's metrics and the bounds on their labels."""

    def __init__(self, *, parties: Callable[[], Collection[str]] = frozenset,
                 purposes: Callable[[], Collection[str]] = frozenset) -> None:
        #: The known parties and purposes (the running catalogue's codes, read per call).
        self.parties = parties
        self.purposes = purposes
        #: The known alert rules and severities (set by the monitoring rules' owner).
        self.rules: Callable[[], Collection[str]] = frozenset
        self.severities: Callable[[], Collection[str]] = frozenset
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.calls = Counter(
            PREFIX + "calls", "Calls by method, party, purpose, decision and status",
            ["method", "party", "purpose", "decision", "status"], registry=reg)
        self.latency = Histogram(
            PREFIX + "call_duration_seconds", "Server time of a call, by method and decision",
            ["method", "decision"], buckets=LATENCY_BUCKETS, registry=reg)
        self.audit_appends = Counter(
            PREFIX + "audit_appends", "Audit entries this instance appended for calls",
            registry=reg)
        self.quota_refusals = Counter(
            PREFIX + "quota_refusals", "Calls refused for a quota, by party, purpose and limit",
            ["party", "purpose", "limit"], registry=reg)
        self.alerts = Counter(
            PREFIX + "alerts", "Alerts raised by the monitoring rules, by rule and severity",
            ["rule", "severity"], registry=reg)
        self._scrape: _ScrapeCollector | None = None

    def observe_call(self, *, method: str, party: str, purpose: str, decision: str,
                     status: str, seconds: float) -> None:
        """Count one finished call and its latency (labels bounded here)."""
        method_l = method_label(method)
        decision_l = bounded(decision, DECISIONS)
        self.calls.labels(method_l, bounded(party, self.parties()),
                          bounded(purpose, self.purposes()), decision_l,
                          bounded(status, STATUSES)).inc()
        self.latency.labels(method_l, decision_l).observe(seconds)

    def audit_appended(self, count: int = 1) -> None:
        """Count entries appended to the audit log."""
        self.audit_appends.inc(count)

    def quota_refused(self, *, party: str, purpose: str, limit: str,
                      limits: Collection[str]) -> None:
        """Count a call refused for a quota (`limits`: the limit kinds there are)."""
        self.quota_refusals.labels(bounded(party, self.parties()),
                                   bounded(purpose, self.purposes()),
                                   bounded(limit, limits)).inc()

    def alert_raised(self, *, rule: str, severity: str) -> None:
        """Count an alert of a monitoring rule (labels bounded by `rules`/`severities`)."""
        self.alerts.labels(bounded(rule, self.rules()),
                           bounded(severity, self.severities())).inc()

    def read_at_scrape(self, readings: ScrapeReadings) -> None:
        """Report log size, checkpoint age and health, read at each scrape (once)."""
        if self._scrape is not None:
            self.registry.unregister(self._scrape)
        self._scrape = _ScrapeCollector(readings)
        self.registry.register(self._scrape)

    def exported(self) -> dict[str, frozenset[str]]:
        """Every series name a scrape can show (``_total``, ``_bucket``...), with its label
        names, whether or not it has been observed yet."""
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                    "gauge": ("",)}
        declared = {m._name: frozenset(m._labelnames) for m in (
            self.calls, self.latency, self.audit_appends, self.quota_refusals, self.alerts)}
        found: dict[str, frozenset[str]] = {}
        for family in self.registry.collect():
            labels = declared.get(family.name, frozenset()) | {
                name for sample in family.samples for name in sample.labels}
            for suffix in suffixes.get(family.type, ("",)):
                found[family.name + suffix] = labels | ({"le"} if suffix == "_bucket"
                                                        else frozenset())
        return found


@dataclass
class MetricsEndpoint:
    """A started metrics HTTP endpoint."""

    host: str
    port: int
    _server: Any
    _thread: Any

    def stop(self) -> None:
        """Stop serving metrics."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_endpoint(metrics: Metrics, *, host: str, port: int) -> MetricsEndpoint:
    """Serve /metrics on host:port (0 picks a free port); raises OSError when it cannot."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return MetricsEndpoint(host=host, port=bound, _server=server, _thread=thread)

