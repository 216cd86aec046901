"""No single officer opens personal data: live decision tests bind every proposal.

The attack: one officer proposes a bundle that lets a credit agency read a person without
consent for a personnel purpose, carrying its own weakened decision tests. Each variant
of the weakening is tried through a real gateway; none goes live on one officer's word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.policy.live_tests import changed_live_cases
from gateway.policy.rollout import read_bundle
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.support import NOW, POLICIES

GUARD = "the credit agency does no cadre checks"
OPENING = "p, credit_agency, all, read, cadre_selection, allow,\n"
Files = dict[str, bytes]


def shipped() -> Files:
    return read_bundle(POLICIES)


def _edit_case(files: Files, name: str, edit: Callable[[str], str]) -> Files:
    """The bundle with the [[case]] called `name` (in denials.toml) rewritten by `edit`."""
    text = files["tests/denials.toml"].decode()
    start = text.index(f'name = "{name}"')
    end = text.find("[[case]]", start)
    end = len(text) if end < 0 else end
    return {**files, "tests/denials.toml": (text[:start] + edit(text[start:end])
                                            + text[end:]).encode()}


def _open(files: Files) -> Files:
    return {**files, "policy.csv": files["policy.csv"] + OPENING.encode()}


WEAKENINGS: dict[str, Callable[[Files], Files]] = {
    "case_removed": lambda f: _edit_case(f, GUARD, lambda c: "name = \"gone\"\n"
                                          "party = \"court\"\npurpose = \"cadre_selection\"\n"
                                          "object = \"honour\"\naction = \"read\"\n"
                                          "expect = \"deny\"\nwhy = \"x\"\n\n"),
    "expect_flipped": lambda f: _edit_case(f, GUARD, lambda c: c.replace(
        'expect = "deny"', 'expect = "allow"')),
    "purpose_changed": lambda f: _edit_case(f, GUARD, lambda c: c.replace(
        'purpose = "cadre_selection"', 'purpose = "public_disclosure"')),
    "party_changed": lambda f: _edit_case(f, GUARD, lambda c: c.replace(
        'party = "credit_agency"', 'party = "court"')),
    "object_changed": lambda f: _edit_case(f, GUARD, lambda c: c.replace(
        'object = "dishonest_debtor"', 'object = "honour"')),
    "file_removed": lambda f: {k: v for k, v in f.items() if k != "tests/denials.toml"},
    "file_renamed": lambda f: {**{k: v for k, v in f.items() if k != "tests/denials.toml"},
                               "tests/denials_v2.toml": f["tests/denials.toml"]},
    "all_tests_removed": lambda f: {k: v for k, v in f.items() if not k.startswith("tests/")},
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """One development gateway (two-person rule off) for every weakening attempt."""
    running = start_live(tmp_path_factory.mktemp("live-tests"), FixedClock(NOW))
    try:
        yield running
    finally:
        stop_live(running)


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_a_policy_opening_with_weakened_tests_never_goes_live(gw: LiveGateway,
                                                               weakening: str) -> None:
    before = gw.gw.state.version
    version = gw.client("security_officer").propose_policy(_open(WEAKENINGS[weakening](
        shipped())))
    assert version.status == "rejected"
    if weakening == "all_tests_removed":  # a bundle without tests never passes its own
        assert "no test cases" in version.reason
    else:
        assert GUARD in version.reason
    if weakening in ("case_removed", "expect_flipped", "purpose_changed", "party_changed",
                     "file_removed"):  # its own tests were made to pass
        assert "live policy's decision tests" in version.reason
    assert gw.gw.state.version == before


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_weakening_the_live_tests_alone_needs_a_second_officer(gw: LiveGateway,
                                                                weakening: str) -> None:
    """Even with the two-person rule off, the tests themselves are never one officer's."""
    before = gw.gw.state.version
    version = gw.client("security_officer").propose_policy(WEAKENINGS[weakening](shipped()))
    if weakening in ("all_tests_removed", "expect_flipped"):  # its own tests fail
        assert version.status == "rejected"
    else:
        assert version.status == "pending", version.reason
        assert "live decision test" in version.diff_json and GUARD in version.diff_json
    assert gw.gw.state.version == before


def test_adding_a_test_or_a_harmless_rule_is_still_one_officers_change(
        tmp_path: Path, clock: FixedClock) -> None:
    live = start_live(tmp_path, clock)
    try:
        files = shipped()
        files["tests/extra.toml"] = (
            b'[[case]]\nname = "court reads no honours for awards"\nparty = "court"\n'
            b'purpose = "awards"\nobject = "honour"\naction = "read"\nexpect = "deny"\n'
            b'why = "not its remit"\n')
        version = live.client("security_officer").propose_policy(files)
        assert version.status == "active", version.reason
        assert "tests_changed" not in version.diff_json
    finally:
        stop_live(live)


def test_the_two_person_rule_is_on_outside_development(
        live_factory: Callable[..., LiveGateway]) -> None:
    live = live_factory(development=False)
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    pending = officer.propose_policy(
        {**shipped(), "policy.csv": shipped()["policy.csv"] +
         b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"})
    assert pending.status == "pending"
    approved = second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=pending.id),
                                                 timeout=30)
    assert approved.status == "active"


def test_a_second_officer_can_retire_a_live_test(
        live_factory: Callable[..., LiveGateway]) -> None:
    """The way to change a tested decision: two officers retire the test first."""
    live = live_factory()
    officer, second = live.client("security_officer"), live.client("security_officer_b")
    retired = officer.propose_policy(WEAKENINGS["case_removed"](shipped()))
    assert retired.status == "pending"
    with pytest.raises(Exception, match="cannot approve"):
        officer.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=retired.id), timeout=30)
    approved = second.policy_admin.ApprovePolicy(pb.ApprovePolicyRequest(id=retired.id),
                                                 timeout=30)
    assert approved.status == "active"


_CASE = re.compile(r"^\[\[(?:case|quota|stream)\]\]", re.M)  # monitoring streams too


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_edit_of_a_live_case_counts_as_a_change(data: st.DataObject) -> None:
    """Generated edits: any changed, dropped or moved case is named; additions are not."""
    files = shipped()
    test_files = sorted(k for k in files if k.startswith("tests/"))
    name = data.draw(st.sampled_from(test_files))
    text = files[name].decode()
    starts = [m.start() for m in _CASE.finditer(text)]
    index = data.draw(st.integers(0, len(starts) - 1))
    start = starts[index]
    end = starts[index + 1] if index + 1 < len(starts) else len(text)
    block = text[start:end]
    keys = re.findall(r"^(\w+) = ", block, flags=re.M)
    key = data.draw(st.sampled_from(keys))
    how = data.draw(st.sampled_from(["value", "drop_key", "drop_case", "add_case"]))
    if how == "value":
        new = re.sub(rf"^{key} = .*$", f'{key} = "{data.draw(st.text("abc_", min_size=1))}x"',
                     block, count=1, flags=re.M)
    elif how == "drop_key":
        new = re.sub(rf"^{key} = .*\n", "", block, count=1, flags=re.M)
    elif how == "drop_case":
        new = ""
    else:
        new = block + '[[case]]\nname = "a new case"\nparty = "court"\n\n'
    proposed = {**files, name: (text[:start] + new + text[end:]).encode()}
    changed = changed_live_cases(files, proposed)
    if how == "add_case":
        assert changed == []
    else:
        assert len(changed) >= 1 and all(c.startswith(Path(name).stem + "/") for c in changed)
