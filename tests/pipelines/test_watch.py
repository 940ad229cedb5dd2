"""The watcher: bounded polling, a rerun per change, and a failed rerun tried again."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.watch import last_hash, watch


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"first picture")
    return folder


def test_one_rerun_per_change_and_none_without(drop: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    state = tmp_path / "state.json"
    assert watch(str(drop), seen.append, state, max_polls=3, sleep=lambda _: None) == 1
    (drop / "b.jpg").write_bytes(b"second picture")
    assert watch(str(drop), seen.append, state, max_polls=2, sleep=lambda _: None) == 1
    assert len(seen) == 2 and seen[0] != seen[1] and last_hash(state) == seen[1]


def test_a_failed_rerun_is_not_recorded_so_the_next_poll_tries_again(drop: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    def failing(_: str) -> None:
        raise RuntimeError("dvc repro failed")

    with pytest.raises(RuntimeError):
        watch(str(drop), failing, state, max_polls=1)
    assert last_hash(state) is None
    seen: list[str] = []
    assert watch(str(drop), seen.append, state, max_polls=1) == 1


def test_an_unreadable_state_counts_as_a_change(drop: Path, tmp_path: Path, caplog) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    seen: list[str] = []
    assert watch(str(drop), seen.append, state, max_polls=1) == 1
    assert "unreadable watch state" in caplog.text


def test_polls_sleep_between_not_before(drop: Path, tmp_path: Path) -> None:
    naps: list[float] = []
    watch(str(drop), lambda _: None, tmp_path / "state.json", interval=7, max_polls=3, sleep=naps.append)
    assert naps == [7, 7]
