import os
from pathlib import Path

import pytest

from openparts.cpus import available_cpus

MACHINE = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", MACHINE),  # no limit
        (f"{100000 * (MACHINE + 8)} 100000\n", MACHINE),  # a limit above the cores: the cores
        ("100000 100000\n", 1),  # a pod limited to one CPU
        ("50000 100000\n", 1),  # half a CPU: still one worker
        ("garbled\n", MACHINE),
    ],
)
def test_a_cgroup_quota_caps_the_cores(tmp_path: Path, cpu_max: str, expected: int) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert available_cpus(tmp_path) == expected


def test_without_a_cgroup_controller_the_affinity_mask_counts(tmp_path: Path) -> None:
    assert available_cpus(tmp_path / "absent") == MACHINE
