"""`credgate policy`: validate, test, diff and explain the access policy (for security officers).

Exit codes as everywhere in credgate: 0 fine; 1 an error finding, a failed or empty test
run, or (explain) a refused request; 2 a policy or case file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli import policy_explain_remote, policy_rollout
from gateway.cli.common import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, print_json, print_table
from gateway.config import default_policies_dir
from gateway.errors import ConfigurationError
from gateway.policy.diff import policy_diff
from gateway.policy.explain import ExplainRequest, explain_decision, unknown_names
from gateway.policy.testing import run_policy_tests
from gateway.policy.validate import open_policies, validate_policy

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
                    "object, and every candidate rule with its condition, on the "
                    "--policies folder or, with --gateway, on the version the gateway "
                    "serves (or a kept one, --policy-version). Exit 0 when allowed, 1 when "
                    "refused.")
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
    policy_explain_remote.add_gateway_options(explain)
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
    request = ExplainRequest(party=args.party, purpose=args.purpose, obj=args.obj,
                             action=args.action, consent=args.consent,
                             subject_age=args.subject_age)
    if args.gateway is not None:
        return policy_explain_remote.run(args, request)
    if not args.policies.is_dir():
        return _broken(f"{args.policies} is not a directory")
    try:
        ps = open_policies(args.policies)
    except ConfigurationError as exc:
        return _broken(exc.message)
    unknown = unknown_names(ps, request, quote=True)
    if unknown:
        return _broken("; ".join(unknown))
    explained = explain_decision(ps, request)
    if args.json:
        print_json(explained.to_json())
    else:
        print("\n".join(explained.lines()))
    return EXIT_OK if explained.allowed else EXIT_REFUSED
