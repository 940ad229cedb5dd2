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


def test_workers_start_by_fork_where_the_platform_has_it_whatever_the_default() -> None:
    import multiprocessing

    from openparts.cpus import fork_context

    context = fork_context()
    if "fork" in multiprocessing.get_all_start_methods():
        assert context is not None and context.get_start_method() == "fork"
    else:
        assert context is None
