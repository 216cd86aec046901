"""The metrics endpoint: what it exports, over real HTTP from a live gateway, and the
bounds on its labels (no personal data, a bounded number of values)."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from gateway.clock import FixedClock
from gateway.metrics import (
    DECISIONS,
    METHODS,
    NONE,
    OTHER,
    STATUSES,
    Metrics,
    MetricsEndpoint,
    start_metrics_endpoint,
)
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.support import ADULT, NOW

#: A run of digits as long as an ID number's: no label value may hold one.
_ID_LIKE = re.compile(r"\d{15,}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[LiveGateway, MetricsEndpoint]]:
    """One live gateway with its metrics endpoint on a free loopback port."""
    live = start_live(Path(tmp_path_factory.mktemp("metrics")), FixedClock(NOW))
    endpoint = start_metrics_endpoint(live.gw.metrics, host="127.0.0.1", port=0)
    try:
        yield live, endpoint
    finally:
        endpoint.stop()
        stop_live(live)


def scrape(endpoint: MetricsEndpoint) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from a real HTTP scrape."""
    url = f"http://{endpoint.host}:{endpoint.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:  # loopback only
        text = reply.read().decode("utf-8")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


@pytest.mark.e2e  # a live gateway and its endpoint
def test_calls_latency_log_and_health_are_exported(
        served: tuple[LiveGateway, MetricsEndpoint]) -> None:
    live, endpoint = served
    client = live.client("org_department")
    client.query_subject(ADULT, "cadre_selection")
    with pytest.raises(grpc.RpcError):
        live.client("credit_website").query_subject(ADULT, "cadre_selection")
    samples = scrape(endpoint)
    calls = {tuple(sorted(labels.items())): value
             for labels, value in samples["credgate_calls_total"]}
    allowed = (("decision", "allow"), ("method", "QueryService/QuerySubject"),
               ("party", "org_department"), ("purpose", "cadre_selection"), ("status", "OK"))
    assert calls[allowed] >= 1
    refused = (("decision", "deny"), ("method", "QueryService/QuerySubject"),
               ("party", "credit_website"), ("purpose", "cadre_selection"),
               ("status", "PERMISSION_DENIED"))
    assert calls[refused] >= 1
    counts = [v for labels, v in samples["credgate_call_duration_seconds_count"]
              if labels["method"] == "QueryService/QuerySubject"]
    assert sum(counts) >= 2
    assert samples["credgate_audit_appends_total"][0][1] >= 2
    size = samples["credgate_audit_log_entries"][0][1]
    assert size == live.gw.audit.size()
    assert samples["credgate_audit_checkpoint_age_seconds"][0][1] >= 0
    up = {labels["component"]: value for labels, value in samples["credgate_component_up"]}
    assert up == {"audit_log": 1.0, "store": 1.0}


@pytest.mark.e2e  # a live gateway and its endpoint
@settings(max_examples=25)
@given(purpose=st.text(max_size=40), subject=st.sampled_from([ADULT, "0" * 17 + "X"]))
def test_a_callers_purpose_never_becomes_a_label(
        served: tuple[LiveGateway, MetricsEndpoint], purpose: str, subject: str) -> None:
    live, endpoint = served
    with contextlib.suppress(grpc.RpcError):  # refused or not: only the labels matter
        live.client("credit_agency").query_subject(subject, purpose)
    purposes = set(live.gw.catalogue.purposes)
    for labels, _ in scrape(endpoint)["credgate_calls_total"]:
        assert labels["purpose"] in purposes | {OTHER, NONE}
        assert not any(_ID_LIKE.search(v) for v in labels.values())


@settings(max_examples=200)
@given(calls=st.lists(st.tuples(st.text(max_size=60), st.text(max_size=30),
                                st.text(max_size=30), st.text(max_size=10),
                                st.text(max_size=20)), min_size=1, max_size=30))
def test_label_values_are_known_codes_or_folded(
        calls: list[tuple[str, str, str, str, str]]) -> None:
    parties, purposes = {"court", "credit_agency"}, {"cadre_selection"}
    metrics = Metrics(parties=lambda: parties, purposes=lambda: purposes)
    for method, party, purpose, decision, status in calls:
        metrics.observe_call(method=method, party=party, purpose=purpose, decision=decision,
                             status=status, seconds=0.01)
        metrics.quota_refused(party=party, purpose=purpose, limit=status,
                              limits={"calls_per_minute"})
        metrics.alert_raised(rule=method, severity=decision)
    allowed = {"method": METHODS, "party": parties, "purpose": purposes,
               "decision": DECISIONS, "status": STATUSES, "limit": {"calls_per_minute"},
               "rule": set(), "severity": set()}
    seen: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            for name, value in sample.labels.items():
                if name != "le":
                    assert value in allowed[name] | {OTHER, NONE}, (name, value)
                    seen.setdefault(name, set()).add(value)
    # However many strange values the callers sent, each label keeps to its known
    # values plus `other` and `none`.
    for name, values in seen.items():
        assert len(values) <= len(allowed[name]) + 2


def test_the_endpoint_is_off_by_default_and_on_loopback() -> None:
    from gateway.config import Config

    assert Config().metrics_port == 0
    assert Config().metrics_host == "127.0.0.1"


DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "credgate.json"
_SERIES = re.compile(r"\bcredgate_[a-z_]+\b")
_BY = re.compile(r"\bby \(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")


@pytest.mark.e2e  # a live gateway and its endpoint
def test_the_grafana_dashboard_uses_only_exported_metrics(
        served: tuple[LiveGateway, MetricsEndpoint]) -> None:
    live, _ = served
    exported = live.gw.metrics.exported()
    assert {"credgate_audit_log_entries", "credgate_audit_checkpoint_age_seconds",
            "credgate_component_up"} <= set(exported)  # read at scrape time
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    shown: set[str] = set()
    for expr in exprs:
        names = set(_SERIES.findall(expr))
        assert names and names <= set(exported), expr
        shown |= names
        labels = set().union(*(exported[n] for n in names))
        for group in _BY.findall(expr) + [m.split("!=")[0].split("=")[0]
                                           for m in _MATCHERS.findall(expr)]:
            used = {label.strip() for label in group.split(",") if label.strip()}
            assert used <= labels, (expr, used - labels)
    # Every metric the issue asks for is on the dashboard.
    assert {"credgate_calls_total", "credgate_call_duration_seconds_bucket",
            "credgate_audit_appends_total", "credgate_audit_log_entries",
            "credgate_audit_checkpoint_age_seconds", "credgate_component_up",
            "credgate_quota_refusals_total", "credgate_alerts_total"} <= shown
