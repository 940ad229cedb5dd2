import os
from pathlib import Path

import pytest

from openparts.cpus import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, OPT_OUT, available_cpus, keep_freed_memory

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


class RecordingLibc:
    def __init__(self, answer: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.answer


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", OPT_OUT):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_glibc_is_told_to_keep_freed_blocks_of_up_to_a_gibibyte(clean_environment) -> None:
    libc = RecordingLibc()
    assert keep_freed_memory(libc)
    assert libc.calls == [(M_MMAP_THRESHOLD, 1 << 30), (M_TRIM_THRESHOLD, 1 << 30)]


@pytest.mark.parametrize(
    ("name", "value"), [("MALLOC_MMAP_THRESHOLD_", "65536"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0"), (OPT_OUT, "0")]
)
def test_an_environment_that_chose_its_thresholds_keeps_them(clean_environment, name: str, value: str) -> None:
    clean_environment.setenv(name, value)
    libc = RecordingLibc()
    assert not keep_freed_memory(libc)
    assert libc.calls == []


def test_other_glibc_tunables_do_not_stop_it(clean_environment) -> None:
    clean_environment.setenv("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")
    libc = RecordingLibc()
    assert keep_freed_memory(libc)
    assert len(libc.calls) == 2


def test_a_refused_threshold_is_reported(clean_environment, caplog) -> None:
    assert not keep_freed_memory(RecordingLibc(answer=0))
    assert "refused" in caplog.text


def test_a_c_library_without_mallopt_is_left_alone(clean_environment) -> None:
    assert not keep_freed_memory(object())


def test_the_command_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from openparts import cpus
    from openparts.cli import main

    calls = []
    monkeypatch.setattr(cpus, "keep_freed_memory", lambda: calls.append(True) or True)
    assert main(["data", "synth", str(tmp_path / "synth"), "--count", "1", "--size", "64", "--split", "unseen"]) == 0
    assert calls == [True]
