"""One harness for the tests that race threads against each other."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")


def run_together(work: Callable[..., _T], args: Sequence[tuple[Any, ...]], *,
                 timeout: float = 120.0) -> list[_T]:
    """Run ``work(*a)`` for every ``a`` in ``args``, each in its own thread, released
    together; return their results in order, or raise the first error one raised.

    ``timeout`` only guards against a hang: a thread still running after it fails the
    test instead of blocking the suite.
    """
    gate = threading.Barrier(len(args))
    results: list[Any] = [None] * len(args)
    errors: list[BaseException] = []

    def run(position: int) -> None:
        try:
            gate.wait(timeout)
            results[position] = work(*args[position])
        except BaseException as exc:  # reported to the test below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"together-{i}")
               for i in range(len(args))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        raise AssertionError(f"{hung} of {len(threads)} threads still running after "
                             f"{timeout} s")
    if errors:
        raise errors[0]
    return results


def times(count: int) -> list[tuple[()]]:
    """``count`` empty argument tuples: run_together(work, times(8)) runs work() 8 times."""
    return [()] * count
