"""How many CPUs this process may keep busy, how its worker processes start, and how its
allocator keeps freed memory.

`os.cpu_count()` counts the machine and the affinity mask counts the cores the scheduler may
use, but a Kubernetes pod's CPU limit is a cgroup quota that neither shows: a pod limited to
4 CPUs on a 64-core node that starts 64 workers runs them throttled, slower than 4.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
from multiprocessing.context import BaseContext
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP = Path("/sys/fs/cgroup")  # cgroup v2, as Kubernetes mounts it in a container
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEPT_BYTES = 1 << 30
OPT_OUT = "OPENPARTS_KEEP_FREED_MEMORY"  # 0: glibc's own thresholds


def available_cpus(cgroup: Path = CGROUP) -> int:
    """The affinity mask's CPUs, cut to the cgroup's quota (whole CPUs, at least one)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return count
        return max(1, min(count, int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2 controller here, or a file we cannot read
        return count


def fork_context() -> BaseContext | None:
    """fork where the platform has it, whatever the process's default (None: the default). A
    process started by spawn (a process pool, some launchers) has spawn as its default, and each
    spawned worker re-imports the main module and unpickles what it is given: the first training
    step waited 47-54 s on 2 CPU cores and 84 s on an H100 machine (bench-quality --parallel),
    3.5 s there with fork. Workers started this way never touch CUDA."""
    return multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


def keep_freed_memory(libc: ctypes.CDLL | None = None) -> bool:
    """Fix glibc's mmap and trim thresholds at 1 GiB, so that a freed tensor's memory serves the
    next one instead of going back to the system.

    By default glibc maps each block over its mmap threshold (which grows with use, to 32 MB at
    most) on its own and unmaps it when freed: the next tensor of that size is page-faulted in
    afresh, zeroed page by page. On 2 CPU cores a training step at 512 px took 6.10-6.44 s that way
    and 3.97-4.19 s with the thresholds fixed, for 13-16 % more peak memory
    (benchmarks/results/allocator/). Left alone where the environment sets glibc's thresholds
    itself or `OPENPARTS_KEEP_FREED_MEMORY=0`, and off glibc. Returns whether they were set."""
    chosen = [name for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_") if name in os.environ]
    if any(tunable in os.environ.get("GLIBC_TUNABLES", "") for tunable in ("malloc.mmap_threshold", "malloc.trim_threshold")):
        chosen.append("GLIBC_TUNABLES")
    if os.environ.get(OPT_OUT) == "0" or chosen:
        log.debug("glibc's thresholds left as the environment has them (%s)", ", ".join(chosen) or f"{OPT_OUT}=0")
        return False
    if libc is None:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    kept = all(libc.mallopt(parameter, KEPT_BYTES) == 1 for parameter in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
    if not kept:
        log.warning("glibc refused an mmap or trim threshold of %d bytes: freed memory goes back to the system", KEPT_BYTES)
    return kept
