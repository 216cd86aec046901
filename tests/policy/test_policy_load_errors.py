"""A malformed policy is refused at load, with the file and line to fix."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine

POLICIES = Path(__file__).resolve().parents[2] / "policies"
WritePolicy = Callable[..., Path]

HEADER = "# scratch policy\np, court, dishonest_debtor, submit, submission, allow,\n"


def refused(path: Path, catalogue: Catalogue) -> str:
    with pytest.raises(ConfigurationError) as info:
        PolicyEngine.load(path, catalogue)
    return info.value.message


# Each case: the third line of policy.csv, and what the refusal must say.
BAD_LINES = {
    "too_few_values": ("p, court, dishonest_debtor, submit, submission, allow",
                       "policy.csv:3: a rule has 6 values"),
    "too_many_values": ("p, court, dishonest_debtor, submit, submission, allow, , x",
                        "policy.csv:3: a rule has 6 values"),
    "empty_subject": ("p, , dishonest_debtor, read, awards, allow,",
                      "policy.csv:3: only the condition may be empty"),
    "bad_effect": ("p, hr_bureau, honour, read, awards, permit,",
                   "policy.csv:3: effect must be allow or deny, not 'permit'"),
    "unknown_action": ("p, hr_bureau, honour, write, awards, allow,",
                       "policy.csv:3: unknown action 'write'"),
    "unknown_purpose": ("p, hr_bureau, honour, read, curiosity, allow,",
                        "policy.csv:3: unknown purpose 'curiosity'"),
    "unknown_condition": ("p, hr_bureau, honour, read, awards, allow, full_moon",
                          "policy.csv:3: unknown condition 'full_moon'"),
    "unknown_subject": ("p, hr_bureu, honour, read, awards, allow,",
                        "policy.csv:3: unknown subject 'hr_bureu'"),
    "unknown_object": ("p, hr_bureau, honours, read, awards, allow,",
                       "policy.csv:3: unknown object 'honours'"),
    "unknown_field": ("p, hr_bureau, honour.secret, read, awards, allow,",
                      "policy.csv:3: unknown object 'honour.secret'"),
    "inline_comment": ("p, hr_bureau, honour, read, awards, allow, # why",
                       "policy.csv:3: '# why' is not a plain name"),
    "brackets": ("p, hr_bureau, honour, read, awards, allow, f(x)",
                 "policy.csv:3: 'f(x)' is not a plain name"),
    "unknown_line_type": ("x, hr_bureau, honour, read, awards, allow,",
                          "policy.csv:3: a line starts with p or g, not 'x'"),
    "g_wrong_count": ("g, hr_bureau, reviewer, extra",
                      "policy.csv:3: a g line has 2 values"),
    "g_unknown_member": ("g, nobody, reviewer", "policy.csv:3: unknown subject 'nobody'"),
    "g_party_as_role": ("g, department, court",
                        "policy.csv:3: 'court' is a party; it cannot be a role"),
    "g_data_as_role": ("g, department, negative",
                       "policy.csv:3: 'negative' names data; it cannot be a role"),
    "g2_in_policy": ("g2, honour, negative", "policy.csv:3: the data hierarchy (g2)"),
    "duplicate": ("p, court, dishonest_debtor, submit, submission, allow,",
                  "policy.csv:3: repeats line 2"),
    "submit_for_query_purpose": ("p, court, dishonest_debtor, submit, awards, allow,",
                                 "policy.csv:3: submit goes with a submission purpose"),
    "read_for_submission": ("p, court, dishonest_debtor, read, submission, allow,",
                            "policy.csv:3: submit goes with a submission purpose"),
    "submit_outside_remit": ("p, court, violation, submit, submission, allow,",
                             "policy.csv:3: lets 'court' submit 'violation'"),
    "submit_by_role_outside_remit": ("p, department, honour, submit, submission, allow,",
                                     "policy.csv:3: lets '"),
    "submit_on_group": ("p, court, negative, submit, submission, allow,",
                        "policy.csv:3: submit is allowed per category"),
    # Market bodies only check, whichever name a rule reaches them by.
    "market_body_reads": ("p, airline, dishonest_debtor, read, joint_punishment, allow,",
                          "policy.csv:3: lets market body 'airline' read"),
    "market_role_reads_masked": ("p, lender, negative, read_masked, joint_punishment, allow,",
                                 "policy.csv:3: lets market body 'city_bank' read_masked"),
    "market_body_publishes": ("p, transport_operator, dishonest_debtor, publish, "
                              "public_disclosure, allow,",
                              "policy.csv:3: lets market body 'airline' publish"),
    "market_body_by_new_role": ("g, market_body, travel\np, travel, identity, read, "
                                "joint_punishment, allow,",
                                "policy.csv:4: lets market body 'city_bank' read"),
    # A county party submits only what its counterpart provides; a county rule too.
    "county_submit_outside_remit": ("p, miyi_market_regulator, violation, submit, "
                                    "submission, allow,",
                                    "policy.csv:3: lets 'miyi_market_regulator' submit"),
    "county_role_submit": ("p, miyi, admin_penalty, submit, submission, allow,",
                           "policy.csv:3: lets 'miyi_government' submit 'admin_penalty'"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_malformed_line_is_refused_with_file_and_line(case: str, write_policy: WritePolicy,
                                                      catalogue: Catalogue) -> None:
    line, message = BAD_LINES[case]
    path = write_policy(HEADER + line + "\n# trailing comment\n")
    assert message in refused(path, catalogue)


def test_denying_submit_outside_remit_is_fine(write_policy: WritePolicy,
                                              catalogue: Catalogue) -> None:
    path = write_policy(HEADER + "p, department, negative, submit, submission, deny,\n")
    assert len(PolicyEngine.load(path, catalogue).rules) == 2


def test_role_chain_longer_than_casbin_follows_is_refused(write_policy: WritePolicy,
                                                          catalogue: Catalogue) -> None:
    # hr_bureau -> personnel_authority -> level1 ... -> level8 is 9 links: Casbin still
    # follows it. (Not from "department": a county party reaches it through its counterpart.)
    chain = ["personnel_authority", *(f"level{i}" for i in range(1, 9))]
    lines = "".join(f"g, {a}, {b}\n" for a, b in itertools.pairwise(chain))
    rule = "p, level8, honour, read, awards, allow,\n"
    engine = PolicyEngine.load(write_policy(HEADER + lines + rule), catalogue)
    request = ("hr_bureau", "honour.title", "read", "awards", ConditionContext())
    assert engine.decide(*request).allowed and engine.decide_with_casbin(*request).allowed
    # One more link and Casbin would silently stop short: refused instead.
    path = write_policy(HEADER + lines + "g, level8, level9\n" + rule)
    assert "longer than the 9 links Casbin follows" in refused(path, catalogue)


def test_policy_without_rules_is_refused(write_policy: WritePolicy,
                                        catalogue: Catalogue) -> None:
    path = write_policy("# everything was deleted\ng, department, reviewer\n")
    assert refused(path, catalogue) == "policy.csv: no rules; an empty policy is refused"


def test_missing_policy_file_is_refused(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "model.conf").write_text((POLICIES / "model.conf").read_text())
    assert refused(tmp_path, catalogue).startswith("policy.csv cannot be read")


def test_missing_model_file_is_refused(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "policy.csv").write_text(HEADER)
    assert refused(tmp_path, catalogue).startswith("model.conf cannot be read")


def test_policy_that_is_not_utf8_is_refused_with_line(write_policy: WritePolicy,
                                                      catalogue: Catalogue) -> None:
    path = write_policy(HEADER)
    (path / "policy.csv").write_bytes(HEADER.encode() + b"p, court, \xff\xfe, read\n")
    assert refused(path, catalogue) == "policy.csv:3: not UTF-8 text"


def model_with(old: str, new: str) -> str:
    text = (POLICIES / "model.conf").read_text()
    assert old in text
    return text.replace(old, new)


def line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if line.startswith(start))


MODEL_CHANGES = {
    "allow_override_effect": ("e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                              "e = some(where (p.eft == allow))", "e =", "the effect must be"),
    "deny_override_effect": ("e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                             "e = !some(where (p.eft == deny))", "e =", "the effect must be"),
    "no_context": ("r = sub, obj, act, pur, ctx", "r = sub, obj, act, pur", "r =",
                   "the request must be"),
    "no_condition_column": ("p = sub, obj, act, pur, eft, cond", "p = sub, obj, act, pur, eft",
                            "p =", "a rule must be"),
    "matcher_without_condition": (" && condition(p.cond, r.ctx)", "", "m =",
                                  "the matcher must be"),
    "matcher_with_keymatch": ("g2(r.obj, p.obj)", "keyMatch(r.obj, p.obj)", "m =",
                              "the matcher must be"),
    "domain_roles": ("g = _, _", "g = _, _, _", "g =", "g must be `_, _`"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CHANGES))
def test_model_other_than_the_fast_path_is_refused_with_line(
        case: str, write_policy: WritePolicy, catalogue: Catalogue) -> None:
    old, new, key, message = MODEL_CHANGES[case]
    model = model_with(old, new)
    path = write_policy(HEADER, model=model)
    assert refused(path, catalogue).startswith(f"model.conf:{line_of(model, key)}: {message}")


def test_matcher_terms_in_another_order_are_accepted(write_policy: WritePolicy,
                                                     catalogue: Catalogue) -> None:
    model = re.sub(r"(?m)^m = .*$", "m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act"
                   " && r.pur == p.pur && condition(p.cond, r.ctx)",
                   (POLICIES / "model.conf").read_text())
    engine = PolicyEngine.load(write_policy(HEADER, model=model), catalogue)
    assert engine.decide_with_casbin("court", "dishonest_debtor", "submit", "submission",
                                     ConditionContext()).allowed


def test_model_casbin_cannot_parse_is_refused(write_policy: WritePolicy,
                                              catalogue: Catalogue) -> None:
    path = write_policy(HEADER, model="[request_definition]\nthis line has no equals sign\n")
    assert refused(path, catalogue).startswith("model.conf")
