"""How many CPUs this process may keep busy.

`os.cpu_count()` counts the machine and the affinity mask counts the cores the scheduler may
use, but a Kubernetes pod's CPU limit is a cgroup quota that neither shows: a pod limited to
4 CPUs on a 64-core node that starts 64 workers runs them throttled, slower than 4.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")  # cgroup v2, as Kubernetes mounts it in a container


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
