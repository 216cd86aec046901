"""A writer process for the shared-log tests: appends entries from threads, prints seqs.

    python -m tests.audit.shared_writer KIND WHERE DATA_DIR COUNT THREADS TAG [DIGESTS]

Prints one JSON line: {"seqs": [...], "checkpoints": [notes it signed], "replayed": [...]}.
With DIGESTS ("digests"), entry i names request digest "digest-i" and refuses a replay:
processes given the same COUNT race for the same digests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gateway.audit.shared import RequestReplayed
from tests.audit.shared_support import make_backend, open_log
from tests.audit.tamper import make_entry
from tests.threads import run_together


def main(argv: list[str]) -> int:
    kind, where, data_dir, count, threads, tag, *mode = argv
    n, t = int(count), int(threads)
    digests = mode == ["digests"]
    seqs: list[int] = []
    replayed: list[int] = []
    notes: list[str] = []
    with open_log(make_backend(kind, where), Path(data_dir)) as (log, evidence):
        def work(k: int) -> tuple[list[int], list[int], list[str]]:
            mine: tuple[list[int], list[int], list[str]] = ([], [], [])
            for i in range(k, n, t):
                try:
                    mine[0].append(log.append(make_entry(i, request_id=f"{tag}-{i}"),
                                              request_digest=f"digest-{i}" if digests else "",
                                              refuse_replay=digests))
                except RequestReplayed:
                    mine[1].append(i)
                    continue
                if i % 97 == 0:
                    mine[2].append(evidence.checkpointer.checkpoint_now().note)
            return mine

        for done, refused, made in run_together(work, [(k,) for k in range(t)]):
            seqs += done
            replayed += refused
            notes += made
    print(json.dumps({"seqs": seqs, "checkpoints": notes, "replayed": replayed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
