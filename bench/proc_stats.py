"""Counters of a running process read from /proc: CPU seconds and context switches.

These do not depend on how loaded the machine is the way calls per second do: a call
that costs the server 1 ms of CPU and 30 voluntary switches costs that whatever else
runs. CPU time comes from ``/proc/<pid>/stat`` (utime + stime, which include threads
that have exited); context switches are summed over ``/proc/<pid>/task/*/status``
(threads that exited take theirs with them, so measure after warm-up, when the
server's thread pools are stable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessCounters:
    """CPU seconds and context switches of one process (all its threads) at one moment."""

    cpu_seconds: float
    voluntary_switches: int
    involuntary_switches: int

    def __sub__(self, earlier: ProcessCounters) -> ProcessCounters:
        return ProcessCounters(
            cpu_seconds=self.cpu_seconds - earlier.cpu_seconds,
            voluntary_switches=self.voluntary_switches - earlier.voluntary_switches,
            involuntary_switches=self.involuntary_switches - earlier.involuntary_switches,
        )

    def __add__(self, other: ProcessCounters) -> ProcessCounters:
        return ProcessCounters(
            cpu_seconds=self.cpu_seconds + other.cpu_seconds,
            voluntary_switches=self.voluntary_switches + other.voluntary_switches,
            involuntary_switches=self.involuntary_switches + other.involuntary_switches,
        )


ZERO = ProcessCounters(cpu_seconds=0.0, voluntary_switches=0, involuntary_switches=0)


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def _switches(pid: int) -> tuple[int, int]:
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended while we looked
            continue
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def read_counters(pid: int) -> ProcessCounters:
    """The CPU seconds and context switches of a process and all its threads so far."""
    voluntary, involuntary = _switches(pid)
    return ProcessCounters(cpu_seconds=_cpu_seconds(pid), voluntary_switches=voluntary,
                           involuntary_switches=involuntary)


def read_tree_counters(pids: list[int]) -> ProcessCounters:
    """The counters of several processes added up (a server of several workers)."""
    total = ZERO
    for pid in pids:
        total = total + read_counters(pid)
    return total


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (the workers of a multi-process server)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in children.read_text().split()]
    except OSError:
        return []
