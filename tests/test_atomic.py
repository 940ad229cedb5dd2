import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from openparts import atomic


def test_write_json_replaces_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert target.read_text().strip() == '{\n  "a": 2\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target, "w") as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failed_directory_build_keeps_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    with atomic.atomic_directory(target) as staging:
        (staging / "a").write_text("complete")
    with pytest.raises(RuntimeError), atomic.atomic_directory(target, overwrite=True) as staging:
        (staging / "a").write_text("half")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_existing_directory_is_refused_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "dataset").mkdir()
    with pytest.raises(FileExistsError, match="already exists"), atomic.atomic_directory(tmp_path / "dataset"):
        pass


def test_sigkill_during_directory_build_leaves_only_a_hidden_temporary(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from openparts import atomic
        with atomic.atomic_directory({str(tmp_path / "dataset")!r}) as staging:
            (staging / "a").write_text("half")
            os.kill(os.getpid(), 9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == -9
    assert not (tmp_path / "dataset").exists()
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(atomic.TEMP_PREFIX) for p in leftovers)
    assert atomic.remove_stale_temporaries(tmp_path) == leftovers
    assert not os.listdir(tmp_path)
