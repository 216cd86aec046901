"""Examples for the --help of commands whose module does not give its own.

Each command's --help ends with an example; the commands built with
`common.command_parser` carry theirs, these fill in the rest after every group has
registered (so the groups' modules stay as their owners wrote them).
"""

from __future__ import annotations

import argparse

from gateway.cli.common import example_epilog, example_formatter

EXAMPLES: dict[tuple[str, ...], str] = {
    ("serve",): "credgate serve --data-dir var\n"
                "credgate serve --config /etc/credgate/credgate.toml --workers 4",
    ("query",): "credgate query - --purpose cadre_selection --party org_department < id.txt\n"
                "credgate query - --purpose authorised_query --consent C-1 "
                "--party credit_agency --json < id.txt",
    ("consent", "issue"): "credgate consent issue - --grantee credit_agency --purpose "
                          "authorised_query \\\n    --category dishonest_debtor --days 30 "
                          "--max-uses 2 < id.txt",
    ("consent", "revoke"): "credgate consent revoke C-1 --reason \"purpose fulfilled\"",
    ("keys", "init"): "credgate keys init /tmp/dev-keys",
    ("keys", "box-key"): "credgate keys box-key credit_agency --keys /etc/credgate/keys",
    ("keys", "rotate"): "credgate keys rotate master --keys /etc/credgate/keys",
    ("keys", "reencrypt"): "credgate keys reencrypt --config /etc/credgate/credgate.toml",
    ("verify-answer",): "credgate verify-answer answer.json --party credit_agency",
    ("policy", "validate"): "credgate policy validate --policies proposed/",
    ("policy", "test"): "credgate policy test -v --policies proposed/ --run cadre",
    ("policy", "diff"): "credgate policy diff policies/ proposed/",
    ("policy", "explain"): "credgate policy explain --party credit_agency --purpose "
                           "authorised_query \\\n    --object identity.address --consent",
    ("audit", "verify"): "credgate audit verify log.jsonl --log-key keys/gateway.log.pub "
                         "--previous kept.checkpoint",
    ("disclosure", "export"): "credgate disclosure export site/",
    ("report", "supervision"): "credgate report supervision --data-dir var --out figures/",
    ("report", "verify"): "credgate report verify report.json --log-key keys/gateway.log.pub",
    ("console",): "credgate console --party regulator --target 127.0.0.1:7443",
    ("demo",): "credgate demo",
}


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Give each command without an example the one above (when it exists)."""
    for path, example in EXAMPLES.items():
        node: argparse.ArgumentParser | None = parser
        for name in path:
            subs = [a for a in (node._actions if node else [])
                    if isinstance(a, argparse._SubParsersAction)]
            node = subs[0].choices.get(name) if subs else None
        if node is not None and not node.epilog:
            node.epilog = example_epilog(example)
            node.formatter_class = example_formatter()
