"""`credgate check green-channel|joint-punishment|incentive`: yes/no answers, no records
released."""

from __future__ import annotations

import argparse

from gateway.api import pb
from gateway.cli.common import (
    EXIT_OK,
    ID_HELP,
    add_client_options,
    command_parser,
    connect,
    id_number_argument,
    message_dict,
    show,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the check command group."""
    check = commands.add_parser(
        "check", help="minimal-disclosure checks: green channel, joint punishment, incentives",
        description="Checks read a person's records in the gateway and answer only yes or "
                    "no, with the rule or measure that applied; no record leaves. Each "
                    "check is audited and shows in the person's access report.")
    actions = check.add_subparsers(dest="check_command", metavar="CHECK")
    green = command_parser(
        actions, "green-channel", help="does the person earn the green channel (容缺受理)?",
        description="For licensing authorities, purpose admin_licensing: eligible or not, "
                    "and the catalogue's rule.",
        example="credgate check green-channel - --party market_regulator < id.txt")
    green.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    green.add_argument("--purpose", default="admin_licensing",
                       help="the purpose the catalogue binds the green channel to "
                            "(default: %(default)s)")
    add_client_options(green)
    green.set_defaults(handler=run_green)

    joint = command_parser(
        actions, "joint-punishment", help="does a joint punishment measure restrict the "
                                          "person (联合惩戒)?",
        description="For departments, purpose joint_punishment: restricted or not, the "
                    "measure and the authority that decides it (catalogue [measures]).",
        example="credgate check joint-punishment - --measure high_consumption "
                "--party tax_bureau < id.txt")
    joint.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    joint.add_argument("--measure", required=True, help="a measure code, e.g. "
                                                        "high_consumption")
    joint.add_argument("--purpose", default="joint_punishment",
                       help="(default: %(default)s)")
    add_client_options(joint)
    joint.set_defaults(handler=run_joint)

    incentive = command_parser(
        actions, "incentive", help="does the person qualify for an incentive measure "
                                   "(守信激励)?",
        description="For departments (purpose incentive) and, with the person's consent, "
                    "market bodies (purpose incentive_market): eligible or not, the measure, "
                    "its rule and the authority that grants it (catalogue [incentives]).",
        example="credgate check incentive - --incentive employment_support "
                "--party hr_bureau < id.txt")
    incentive.add_argument("subject_id", help="the person's 18-digit ID number" + ID_HELP)
    incentive.add_argument("--incentive", required=True,
                           help="an incentive code, e.g. employment_support")
    incentive.add_argument("--purpose", default="incentive", help="(default: %(default)s)")
    incentive.add_argument("--consent-id", default="",
                           help="the person's consent (market bodies)")
    add_client_options(incentive)
    incentive.set_defaults(handler=run_incentive)


def _answer(yes: bool, reply: pb.GreenChannelResponse | pb.JointPunishmentResponse) -> str:
    """yes or no, and when a peer platform did not answer in time, that it is incomplete."""
    if reply.completeness == pb.Completeness.INCOMPLETE:
        return (f"{'yes' if yes else 'no'}, INCOMPLETE: no answer from "
                f"{', '.join(reply.unanswered_peers)}")
    return "yes" if yes else "no"


def run_green(args: argparse.Namespace) -> int:
    """Ask for the green channel."""
    with connect(args) as client:
        reply = client.green_channel(id_number_argument(args.subject_id), args.purpose)
    show(args, message_dict(reply), ["eligible", "rule", "wording", "audit entry"],
         [[_answer(reply.eligible, reply), reply.rule,
           reply.rule_text_zh or reply.rule_text, f"#{reply.audit_seq}"]])
    return EXIT_OK


def run_joint(args: argparse.Namespace) -> int:
    """Ask whether a measure restricts the person."""
    with connect(args) as client:
        reply = client.joint_punishment(id_number_argument(args.subject_id), args.measure,
                                        args.purpose)
    show(args, message_dict(reply), ["restricted", "measure", "authority", "audit entry"],
         [[_answer(reply.restricted, reply),
           f"{reply.measure} {reply.measure_name_zh}".strip(),
           f"{reply.authority} {reply.authority_name_zh}".strip(), f"#{reply.audit_seq}"]])
    return EXIT_OK


def run_incentive(args: argparse.Namespace) -> int:
    """Ask whether the person qualifies for an incentive measure."""
    with connect(args) as client:
        reply = client.incentive(id_number_argument(args.subject_id), args.incentive,
                                 args.purpose, consent_id=args.consent_id)
    show(args, message_dict(reply), ["eligible", "incentive", "rule", "granted by",
                                     "audit entry"],
         [["yes" if reply.eligible else "no",
           f"{reply.incentive} {reply.incentive_name_zh}".strip(),
           reply.rule_text_zh or reply.rule_text,
           f"{reply.authority} {reply.authority_name_zh}".strip(), f"#{reply.audit_seq}"]])
    return EXIT_OK
