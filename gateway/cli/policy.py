"""`credgate policy`: validate, test, diff and explain the access policy (for security officers).

Exit codes as everywhere in credgate: 0 fine; 1 an error finding, a failed or empty test
run, or (explain) a refused request; 2 a policy or case file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli import policy_rollout
from gateway.cli.common import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, print_json, print_table
from gateway.config import default_policies_dir
from gateway.errors import ConfigurationError
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import Explanation
from gateway.policy.diff import policy_diff
from gateway.policy.policyfile import ACTIONS, catalogue_objects
from gateway.policy.testing import run_policy_tests
from gateway.policy.validate import PolicySet, open_policies, validate_policy

DEFAULT_POLICIES = default_policies_dir()


def register(commands: argparse._SubParsersAction) -> None:
    """Add `policy validate`, `policy test`, `policy diff` and `policy explain`."""
    policy = commands.add_parser(
        "policy", help="validate, test, diff and explain the access policy",
        description="Tools for security officers: check a policy before it is rolled out, "
                    "run its decision tests, see the change in access between two "
                    "versions, and explain a single decision.")
    sub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    policy_rollout.register_actions(sub)

    def policies_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policies", type=Path, default=DEFAULT_POLICIES, metavar="DIR",
                       help="the policies directory (default: %(default)s)")

    validate = sub.add_parser(
        "validate", help="find mistakes in a policy",
        description="Report load errors with file and line, rules that can never apply, "
                    "allows a deny always overrides, and consent problems. Exit 1 when an "
                    "error is found; warnings alone exit 0.")
    policies_option(validate)
    validate.add_argument("--json", action="store_true", help="print JSON for machines")
    validate.set_defaults(handler=run_validate)

    test = sub.add_parser(
        "test", help="run the decision test cases in DIR/tests/*.toml",
        description="Decide every [[case]] of DIR/tests/*.toml and compare with its "
                    "expectation. Failures are always shown; an empty run fails.")
    policies_option(test)
    test.add_argument("--run", metavar="REGEX",
                      help="only cases whose FILE/NAME matches REGEX (searched, not anchored)")
    test.add_argument("-v", "--verbose", dest="show_passes", action="store_true",
                      help="also list the cases that pass")
    test.add_argument("--json", action="store_true", help="print JSON for machines")
    test.set_defaults(handler=run_test)

    diff = sub.add_parser(
        "diff", help="the change in effective access between two policies directories",
        description="Decide every party, purpose, field and request situation under both "
                    "policies and list who gains and who loses access.")
    diff.add_argument("old", type=Path, metavar="OLD", help="the policies directory in force")
    diff.add_argument("new", type=Path, metavar="NEW", help="the proposed policies directory")
    diff.add_argument("--json", action="store_true", help="print JSON for machines")
    diff.set_defaults(handler=run_diff)

    explain = sub.add_parser(
        "explain", help="explain one decision",
        description="Decide one request and show the deciding rule (file:line), the chain "
                    "from the party to the rule's subject and from the object to the rule's "
                    "object, and every candidate rule with its condition. Exit 0 when "
                    "allowed, 1 when refused.")
    policies_option(explain)
    explain.add_argument("--party", required=True, help="the asking party, e.g. org_department")
    explain.add_argument("--purpose", required=True, help="the purpose, e.g. cadre_selection")
    explain.add_argument("--object", required=True, dest="obj", metavar="OBJECT",
                         help="a field (identity.address), category or group")
    explain.add_argument("--action", default="read", help="read | read_masked | submit | check "
                                                          "(default: %(default)s)")
    explain.add_argument("--consent", action="store_true",
                         help="the person's consent artefact is presented")
    explain.add_argument("--subject-age", type=int, default=None, metavar="N",
                         help="the person's age")
    explain.add_argument("--json", action="store_true", help="print JSON for machines")
    explain.set_defaults(handler=run_explain)
    policy.set_defaults(handler=lambda _args: _usage(policy))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BROKEN


def _broken(message: str) -> int:
    print(f"credgate: {message}", file=sys.stderr)
    return EXIT_BROKEN


def run_validate(args: argparse.Namespace) -> int:
    """Print the findings; 1 when any is an error."""
    if not args.policies.is_dir():
        return _broken(f"{args.policies} is not a directory")
    findings = validate_policy(args.policies)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if args.json:
        print_json({"ok": not errors, "errors": errors, "warnings": warnings,
                    "findings": [{"severity": f.severity, "file": f.file, "line": f.line,
                                  "message": f.message} for f in findings]})
    else:
        for finding in findings:
            print(finding)
        print(f"{args.policies}: {errors} error(s), {warnings} warning(s)")
    return EXIT_REFUSED if errors else EXIT_OK


def run_test(args: argparse.Namespace) -> int:
    """Run the cases; 1 on a failure or an empty run, 2 when cases or policy are broken."""
    if not args.policies.is_dir():
        return _broken(f"{args.policies} is not a directory")
    try:
        report = run_policy_tests(args.policies, run=args.run)
    except ConfigurationError as exc:
        return _broken(exc.message)
    if args.json:
        print_json(report.to_json())
    else:
        print("\n".join(report.lines(verbose=args.show_passes)))
    return EXIT_OK if report.ok else EXIT_REFUSED


def run_diff(args: argparse.Namespace) -> int:
    """Print who gains and who loses access from OLD to NEW."""
    try:
        diff = policy_diff(args.old, args.new)
    except ConfigurationError as exc:
        return _broken(exc.message)
    if args.json:
        print_json(diff.to_json())
        return EXIT_OK
    for note in diff.notes:
        print(f"note: {note}")
    if diff.empty:
        print("no change in effective access")
        return EXIT_OK
    rows = [(c.party, c.purpose, c.object + (f" ({c.action})" if c.action else ""),
             f"{c.before} -> {c.after}", c.when or "always")
            for c in sorted(diff.changes, key=lambda c: (c.party, not c.gained, c.purpose))]
    print_table(("party", "purpose", "object", "before -> after", "when"), rows)
    print(f"{len(diff.gained)} gained, {len(diff.lost)} lost")
    return EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    """Explain one decision; 0 allowed, 1 refused, 2 unknown names."""
    if not args.policies.is_dir():
        return _broken(f"{args.policies} is not a directory")
    try:
        ps = open_policies(args.policies)
    except ConfigurationError as exc:
        return _broken(exc.message)
    unknown = _unknown_names(ps, args)
    if unknown:
        return _broken("; ".join(unknown))
    ctx = ConditionContext(consent_presented=args.consent, subject_age=args.subject_age)
    request = (args.party, args.obj, args.action, args.purpose)
    ex = ps.engine.explain(*request, ctx)
    release = _release(ps, args, ctx)
    considered = [{"rule": str(rule), "line": rule.line, "effect": rule.eft,
                   "condition": rule.cond or None, "condition_holds": held,
                   "decided": rule == ex.decision.rule} for rule, held in ex.considered]
    rule = ex.decision.rule
    if args.json:
        print_json({
            "request": {"party": args.party, "object": args.obj, "action": args.action,
                        "purpose": args.purpose, "consent": args.consent,
                        "subject_age": args.subject_age},
            "allowed": ex.decision.allowed, "reason": ex.decision.reason,
            "rule": None if rule is None else {"file": rule.source, "line": rule.line,
                                               "text": str(rule)},
            "role_chain": list(ex.role_chain), "object_chain": list(ex.object_chain),
            "roles_held": list(ps.roles[args.party]),
            "object_ancestors": list(ps.ancestors[args.obj]),
            "release": release, "considered": considered, "casbin_agrees": ex.agrees})
    else:
        _print_explanation(ex, ps, args, release, considered)
    return EXIT_OK if ex.decision.allowed else EXIT_REFUSED


def _unknown_names(ps: PolicySet, args: argparse.Namespace) -> list[str]:
    cat = ps.catalogue
    out = []
    if args.party not in cat.parties:
        out.append(f"unknown party '{args.party}' (parties.toml)")
    if args.purpose not in cat.purposes:
        out.append(f"unknown purpose '{args.purpose}' (purposes.toml)")
    if args.obj not in catalogue_objects(cat):
        out.append(f"unknown object '{args.obj}' (not a field, category or group)")
    if args.action not in ACTIONS:
        out.append(f"unknown action '{args.action}' ({', '.join(sorted(ACTIONS))})")
    if args.subject_age is not None and not 0 <= args.subject_age <= 150:
        out.append("--subject-age must be 0-150")
    return out


def _release(ps: PolicySet, args: argparse.Namespace, ctx: ConditionContext) -> str | None:
    """For a field read: how the gateway would release it (clear, masked or withheld)."""
    if args.action in ("submit", "check") or "." not in args.obj:
        return None
    engine = ps.engine
    if engine.decide(args.party, args.obj, "read", args.purpose, ctx).allowed:
        return "clear"
    if engine.decide(args.party, args.obj, "read_masked", args.purpose, ctx).allowed:
        return "masked"
    return "withheld"


def _print_explanation(ex: Explanation, ps: PolicySet, args: argparse.Namespace,
                       release: str | None, considered: list[dict[str, Any]]) -> None:
    facts = ["consent presented" if args.consent else "no consent",
             "age unknown" if args.subject_age is None else f"aged {args.subject_age}"]
    rule = ex.decision.rule
    print(f"request:   {args.party} {args.action} {args.obj} for {args.purpose} "
          f"({', '.join(facts)})")
    print(f"decision:  {'ALLOW' if ex.decision.allowed else 'DENY'}")
    print(f"rule:      {rule if rule is not None else ex.decision.reason}")
    print(f"roles:     {' -> '.join(ex.role_chain)}"
          f"   (holds: {', '.join(ps.roles[args.party])})")
    print(f"object:    {' -> '.join(ex.object_chain)}"
          f"   (lies under: {', '.join(ps.ancestors[args.obj])})")
    if release is not None:
        print(f"release:   {release} (the gateway asks read, then read_masked)")
    if not considered:
        print("candidates: none: no rule names this party's roles, this object or one "
              "above it, this action and this purpose")
    else:
        print("candidates (deny rules are checked first, then allows):")
        for c in considered:
            cond = "no condition" if c["condition"] is None else \
                f"{c['condition']}: {'holds' if c['condition_holds'] else 'unmet'}"
            mark = "decided" if c["decided"] else "       "
            print(f"  {mark}  {c['effect']:<5}  [{cond}]  {c['rule']}")
    if not ex.agrees:
        print(f"WARNING: Casbin decides differently: {ex.casbin.reason}")
