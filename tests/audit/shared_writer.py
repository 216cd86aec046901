"""A writer process for the shared-log tests: appends entries from threads, prints seqs.

    python -m tests.audit.shared_writer KIND WHERE DATA_DIR COUNT THREADS TAG

Prints one JSON line: {"seqs": [...], "checkpoints": [notes it signed]}.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from tests.audit.shared_support import make_backend, open_log
from tests.audit.tamper import make_entry


def main(argv: list[str]) -> int:
    kind, where, data_dir, count, threads, tag = argv
    n, t = int(count), int(threads)
    seqs: list[int] = []
    notes: list[str] = []
    lock = threading.Lock()
    with open_log(make_backend(kind, where), Path(data_dir)) as (log, evidence):
        def work(k: int) -> None:
            for i in range(k, n, t):
                seq = log.append(make_entry(i, request_id=f"{tag}-{i}"))
                with lock:
                    seqs.append(seq)
                if i % 97 == 0:
                    cp = evidence.checkpointer.checkpoint_now()
                    with lock:
                        notes.append(cp.note)
        workers = [threading.Thread(target=work, args=(k,)) for k in range(t)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    print(json.dumps({"seqs": seqs, "checkpoints": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
