"""Nothing a caller writes reaches the audit log as free text, and no error quotes it.

Every caller-supplied identifier (consent ids, source record ids, the gateway's own ids
sent back, page tokens, audit filters) must match one grammar before any use. Generated
values hide an ID number, an old 15-digit ID or a bank card glued to letters, spread over
separators, written in Chinese numerals or padded with blanks; each is sent through a
real gateway at every entry point. Each must come back INVALID_ARGUMENT with a message
that quotes none of it, and leave one deny entry holding a keyed digest, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.client import CredgateClient
from gateway.clock import FixedClock
from gateway.pii.identifiers import is_identifier
from gateway.pii.idnumber import make_id_number
from gateway.pii.scanner import is_id_number
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.records_data import debtor_record
from tests.support import ADULT, NOW

_CN = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


@st.composite
def personal_numbers(draw: st.DrawFn) -> str:
    """An ID number (new or old) or a bank card number, valid or merely long."""
    kind = draw(st.sampled_from(["id", "id_x", "old_id", "card"]))
    if kind.startswith("id"):
        born = draw(st.dates(date(1930, 1, 1), date(2008, 12, 31)))
        number = make_id_number(draw(st.sampled_from(["110105", "330106", "440305"])), born,
                                draw(st.integers(1, 999)))
        return number.lower() if kind == "id_x" else number
    length = 15 if kind == "old_id" else draw(st.integers(16, 19))
    return draw(st.text("0123456789", min_size=length, max_size=length))


@st.composite
def hiding_values(draw: st.DrawFn) -> tuple[str, str]:
    """(value, the number it hides): the number glued, spread, spelt or padded."""
    number = draw(personal_numbers())
    letters = st.text("abcXYZ", min_size=0, max_size=4)
    how = draw(st.sampled_from(["glued", "spread", "chinese", "blank", "fullwidth"]))
    body = number
    if how == "spread":
        sep = draw(st.sampled_from(["-", ".", ":", "_", "=", "--"]))
        body = sep.join(number[i:i + 6] for i in range(0, len(number), 6))
        if not is_id_number(number.upper()):  # only ID numbers are known across separators
            body = number
    elif how == "chinese":
        body = "".join(_CN.get(c, c) for c in number)
    elif how == "blank":
        body = draw(st.sampled_from([" ", "\t", "\n", "\u200b"])) + number
    elif how == "fullwidth":
        body = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)
    return draw(letters) + body + draw(letters), number


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One gateway: a court record and the person's self_query consent for the portal."""
    clock = FixedClock(NOW)
    running = start_live(tmp_path_factory.mktemp("identifiers"), clock)
    running.client("court").submit_records([debtor_record("ID-1")])
    running.consent = running.client("citizen_portal").issue_consent(  # type: ignore[attr-defined]
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=["dishonest_debtor"], not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=30), max_uses=1000)
    try:
        yield running
    finally:
        stop_live(running)


def _entry_points(live: LiveGateway) -> dict[str, tuple[str, Callable[[str], object]]]:
    """name -> (identifier kind, a call that sends the value in that identifier)."""
    clients: dict[str, CredgateClient] = live.__dict__.setdefault("cached_clients", {})

    def c(party: str) -> CredgateClient:
        if party not in clients:
            clients[party] = live.client(party)
        return clients[party]

    consent: str = live.consent  # type: ignore[attr-defined]
    later = NOW + timedelta(days=1)
    return {
        "revoke": ("consent_id", lambda v: c("citizen_portal").revoke_consent(v, "x")),
        "query": ("consent_id", lambda v: c("credit_agency").query_subject(
            ADULT, "authorised_query", consent_id=v)),
        "access_report": ("consent_id",
                          lambda v: c("citizen_portal").subject_access_report(ADULT, v)),
        "objection": ("consent_id", lambda v: c("citizen_portal").file_objection(
            ADULT, v, "rec-1", "wrong")),
        "issue": ("consent_id", lambda v: c("citizen_portal").issue_consent(
            subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
            categories=["dishonest_debtor"], not_before=NOW, not_after=later,
            consent_id=v)),
        "repair_record": ("record_id", lambda v: c("citizen_portal").apply_repair(
            ADULT, consent, v, "done")),
        "objection_record": ("record_id", lambda v: c("citizen_portal").file_objection(
            ADULT, consent, v, "wrong")),
        "remove_by_record": ("record_id", lambda v: c("court").remove_record(
            reason="obligation_performed", record_id=v)),
        "remove_by_source": ("source_record_id", lambda v: c("court").remove_record(
            reason="obligation_performed", source_record_id=v)),
        "submit": ("source_record_id",
                   lambda v: c("court").submit_records([debtor_record(v)])),
        "answer_objection": ("objection_id",
                             lambda v: c("court").answer_objection(v, "uphold")),
        "decide_repair": ("repair_id", lambda v: c("court").decide_repair(
            v, approve=True, reason="ok")),
        "audit_page": ("page_token", lambda v: c("regulator").audit.ListAuditEntries(
            pb.ListAuditEntriesRequest(page_token=v), timeout=10)),
        "audit_requester": ("requester", lambda v: c("regulator").audit.ListAuditEntries(
            pb.ListAuditEntriesRequest(requester=v), timeout=10)),
    }


ENTRY_POINTS = ["revoke", "query", "access_report", "objection", "issue", "repair_record",
                "objection_record", "remove_by_record", "remove_by_source", "submit",
                "answer_objection", "decide_repair", "audit_page", "audit_requester"]


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def _assert_refused_unquoted(live: LiveGateway, what: str, call: Callable[[str], object],
                             value: str, number: str) -> str:
    before = live.gw.audit.size()
    with pytest.raises(grpc.RpcError) as info:
        call(value)
    details = info.value.details() or ""
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, details
    assert number not in details and number.upper() not in details
    assert value not in details
    assert not _digits(number) or _digits(number)[:8] not in _digits(details)
    entries = live.gw.audit.read(start=before + 1, limit=10)
    assert len(entries) == 1, [e.reason for _, e in entries]
    entry = entries[0][1]
    assert entry.decision == "deny" and entry.reason.startswith(f"malformed_{what} ")
    text = entry.canonical_bytes().decode()
    assert value not in text and number not in text and number.upper() not in text
    assert not _digits(number) or _digits(number)[:15] not in _digits(text)
    return entry.reason.split(" ", 1)[1]


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hidden=hiding_values())
def test_a_number_hidden_in_an_identifier_is_refused_and_never_logged(
        gw: LiveGateway, entry_point: str, hidden: tuple[str, str]) -> None:
    value, number = hidden
    assert not is_identifier(value, document=True)
    what, call = _entry_points(gw)[entry_point]
    _assert_refused_unquoted(gw, what, call, value, number)


def test_the_digest_recognises_a_value_again_without_holding_it(gw: LiveGateway) -> None:
    value = f"x{ADULT}y"
    what, call = _entry_points(gw)["revoke"]
    first = _assert_refused_unquoted(gw, what, call, value, ADULT)
    again = _assert_refused_unquoted(gw, what, call, value, ADULT)
    other = _assert_refused_unquoted(gw, what, call, value + "z", ADULT)
    assert first == again != other and ":" in first and not re.search(r"[0-9]{6}", first)


@pytest.mark.parametrize("value", ["", "a" * 129, "a b", "a\x00b", "é1234567", "a/b"])
def test_other_shapes_outside_the_grammar_are_refused(gw: LiveGateway, value: str) -> None:
    what, call = _entry_points(gw)["audit_page"]
    if not value:
        return  # an empty page token means the first page
    _assert_refused_unquoted(gw, what, call, value, value)


def test_department_document_numbers_remain_source_ids(gw: LiveGateway) -> None:
    for source in ("(2026)浙01执9999号", "市监罚〔2026〕89号", "REC/2026#12"):
        reply = gw.client("court").submit_records([debtor_record(source)])
        assert len(reply.results) == 1


def test_an_unknown_field_name_is_not_echoed_but_the_nearest_code_is_named(
        gw: LiveGateway, tmp_path: Path) -> None:
    for name in (f"name{ADULT}", "debtor_nam", ADULT, f"amount_{ADULT[:15]}"):
        record = debtor_record("F-UNKNOWN")
        record["fields"] = {**record["fields"], name: "x"}
        with pytest.raises(grpc.RpcError) as info:
            gw.client("court").submit_records([record])
        details = info.value.details() or ""
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert name not in details.replace("debtor_name", "")  # the hint is a code
        assert _digits(ADULT)[:8] not in _digits(details)
        assert "not a field of dishonest_debtor" in details
        if name == "debtor_nam":
            assert "nearest valid code: debtor_name" in details


@pytest.mark.parametrize("bad", ["dishonest_debtr", f"cat{ADULT}", "x" * 300])
def test_an_unknown_category_or_purpose_is_not_echoed(gw: LiveGateway, bad: str) -> None:
    calls = [lambda: gw.client("org_department").query_subject(ADULT, bad),
             lambda: gw.client("org_department").query_subject(ADULT, "cadre_selection",
                                                                categories=[bad])]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        details = info.value.details() or ""
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad not in details and _digits(ADULT)[:8] not in _digits(details)
    if bad == "dishonest_debtr":
        assert "nearest valid code: dishonest_debtor" in details
