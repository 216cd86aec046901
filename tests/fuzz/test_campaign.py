"""Hypothesis campaign on what reads caller bytes: request decoders, intake, consent parser.

Each target has one property: whatever the input, it answers or refuses with the
project's own error (INVALID_ARGUMENT), never another exception. The suite runs a
bounded campaign (a few seconds); `make fuzz` sets CREDGATE_FUZZ_EXAMPLES for a long one.
Inputs are random bytes and mutations (bit flips, cuts, splices, repeats) of valid ones.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.catalogue.registry import load_catalogue
from gateway.cli.common import CliError
from gateway.cli.submit_input import Row, check_row, detect_encoding, read_rows
from gateway.client import record_message
from gateway.consent.artefacts import new_terms, parse_artefact
from gateway.errors import CredgateError
from gateway.validate.requests import RawRecord, validate_batch
from gateway.validate.wire import MalformedRequest, decode_request
from tests.services.records_data import debtor_record
from tests.support import ADULT, NOW, POLICIES
from tests.wire_bodies import malformed_bodies

EXAMPLES = int(os.environ.get("CREDGATE_FUZZ_EXAMPLES", "0")) or None
CAMPAIGN = settings(max_examples=EXAMPLES or 120, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
CATALOGUE = load_catalogue(POLICIES)
COURT = CATALOGUE.parties["court"]
REQUEST_TYPES = sorted({m.input_type.name for s in pb.DESCRIPTOR.services_by_name.values()
                        for m in s.methods})


def _seed(type_name: str) -> bytes:
    """A valid, non-trivial body of a request type (the fields it has, filled)."""
    message = getattr(pb, type_name)()
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated or field.message_type is not None:
            continue
        if field.type == field.TYPE_STRING:
            setattr(message, field.name, "consent-00000000-abcd")
        elif field.type == field.TYPE_BYTES:
            setattr(message, field.name, b"\x01\x02")
        elif field.type in (field.TYPE_INT32, field.TYPE_INT64, field.TYPE_UINT32,
                            field.TYPE_UINT64, field.TYPE_ENUM):
            setattr(message, field.name, 1)
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, True)
    if type_name == "SubmitRecordsRequest":
        message.records.append(record_message(debtor_record("FZ-1")))
    return message.SerializeToString()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A valid body mutated: flipped bytes, cut, spliced, repeated, or random bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "random"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif how == "repeat":
            data = data[:at] + data[at:] * draw(st.integers(2, 50))
        else:
            data = bytearray(draw(st.binary(max_size=64)))
    return bytes(data)


@CAMPAIGN
@given(data=st.data())
def test_request_decoders_refuse_only_with_invalid_argument(data: st.DataObject) -> None:
    type_name = data.draw(st.sampled_from(REQUEST_TYPES))
    body = data.draw(mutated(_seed(type_name)))
    try:
        decode_request(getattr(pb, type_name), body)
    except MalformedRequest as err:
        assert err.status == "INVALID_ARGUMENT" and str(len(body)) in err.message


@pytest.mark.parametrize("type_name", REQUEST_TYPES)
def test_the_six_known_malformed_bodies_are_refused(type_name: str) -> None:
    for body in malformed_bodies(getattr(pb, type_name)).values():
        with pytest.raises(MalformedRequest):
            decode_request(getattr(pb, type_name), body)


@CAMPAIGN
@given(body=mutated(_seed("SubmitRecordsRequest")))
def test_submitted_records_are_validated_or_refused(body: bytes) -> None:
    try:
        request = decode_request(pb.SubmitRecordsRequest, body)
        raws = [RawRecord(subject_id=r.subject_id, category=r.category, severity=r.severity,
                          event_date=r.event_date, fields=dict(r.fields),
                          source_record_id=r.source_record_id, domain=r.domain,
                          occupation=r.occupation) for r in request.records]
        validate_batch(raws, provider=COURT, catalogue=CATALOGUE, today=NOW.date())
    except CredgateError as err:
        assert err.status == "INVALID_ARGUMENT"


def _terms_bytes() -> bytes:
    return new_terms(subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
                     categories=["dishonest_debtor"], not_before=NOW,
                     not_after=NOW + timedelta(days=3), max_uses=2, issuer="citizen_portal",
                     issued_at=NOW).canonical_bytes()


@st.composite
def artefacts(draw: st.DrawFn) -> bytes:
    """Consent artefact bytes: mutated canonical terms, deep nesting, huge numbers."""
    how = draw(st.sampled_from(["mutate", "nest", "number", "json"]))
    if how == "nest":
        depth = draw(st.integers(50, 5000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (opener * depth + "1" + closer * depth).encode()
    if how == "number":
        return ('{"max_uses":' + "9" * draw(st.integers(4000, 6000)) + "}").encode()
    if how == "json":
        values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3)
                              | st.dictionaries(st.text(max_size=5), c, max_size=3),
                              max_leaves=10)
        import json
        return json.dumps(draw(values)).encode()
    return draw(mutated(_terms_bytes()))


@CAMPAIGN
@given(artefact=artefacts())
def test_the_consent_parser_refuses_only_with_invalid_argument(artefact: bytes) -> None:
    try:
        parse_artefact(artefact)
    except CredgateError as err:
        assert err.status == "INVALID_ARGUMENT"


_CSV_SEED = ("subject_id,category,severity,event_date,source_record_id,field.debtor_name\n"
             f"{ADULT},dishonest_debtor,serious,2026-01-05,CSV-1,张三\n")
_JSON_SEED = ('{"records": [{"subject_id": "' + ADULT + '", "category": "dishonest_debtor", '
              '"severity": "serious", "event_date": "2026-01-05", '
              '"source_record_id": "J-1", "fields": {"debtor_name": "张三"}}]}')


@CAMPAIGN
@given(kind=st.sampled_from(["csv", "json"]), data=st.data())
def test_csv_and_json_intake_reads_or_refuses_cleanly(tmp_path_factory: pytest.TempPathFactory,
                                                      kind: str, data: st.DataObject) -> None:
    """`credgate submit`'s reader: every row checked, or a CliError (exit 2), nothing else."""
    seed = (_CSV_SEED if kind == "csv" else _JSON_SEED).encode()
    body = data.draw(st.one_of(mutated(seed), st.just(b"[" * 5000 + b"]" * 5000),
                               st.just(b'[{"subject_id": ' + b"9" * 5000 + b"}]")))
    path: Path = tmp_path_factory.mktemp("intake") / f"records.{kind}"
    path.write_bytes(body)
    try:
        for row in read_rows(path, detect_encoding(path)):
            if isinstance(row, Row):
                check_row(row, catalogue=CATALOGUE, party=COURT, today=date(2026, 11, 28))
    except CliError:
        pass  # "cannot read": exit 2 with a line
