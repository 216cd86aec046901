"""A cited record id is a gateway UUID, not a personal number, whatever its digits read as.

About one record id in a hundred holds, across its hyphens, digits that read as a mobile
number; citing such a record (a broken commitment naming its commitment) was refused as
a personal number in clear (seen in CI). The scan still refuses every other value.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalogue.registry import Catalogue
from gateway.errors import InvalidArgument
from gateway.validate.requests import RawRecord, validate_batch
from tests.support import ADULT

TODAY = date(2026, 11, 28)


def broken_commitment(catalogue: Catalogue, cited: str) -> None:
    """Validate a broken commitment citing `cited`."""
    raw = RawRecord(subject_id=ADULT, category="broken_commitment", severity="general",
                    event_date="2026-05-01", source_record_id="BC-1",
                    fields={"commitment_record_id": cited, "description": "未按承诺履行"})
    validate_batch([raw], provider=catalogue.parties["hr_bureau"], catalogue=catalogue,
                   today=TODAY)


# Record ids whose hex digits read, across hyphens, as mobile numbers (1[3-9] + 9 digits).
mobile_like_ids = st.builds(
    lambda mobile, rest: str(uuid.UUID(hex=(mobile + rest)[:32])),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{21}", fullmatch=True))


@settings(max_examples=60, deadline=None)
@given(record_uuid=mobile_like_ids)
def test_a_cited_record_id_is_not_taken_for_a_mobile(catalogue: Catalogue,
                                                     record_uuid: str) -> None:
    broken_commitment(catalogue, f"rec-{record_uuid}")


@settings(max_examples=60, deadline=None)
@given(mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
       shape=st.sampled_from(["rec-{m}", "{m}", "rec-{m}-0000-4000-8000-000000000000",
                              "REC-{m}", "rec-{m}x"]))
def test_anything_else_holding_a_mobile_in_a_citation_is_still_refused(
        catalogue: Catalogue, mobile: str, shape: str) -> None:
    with pytest.raises(InvalidArgument):
        broken_commitment(catalogue, shape.format(m=mobile))
