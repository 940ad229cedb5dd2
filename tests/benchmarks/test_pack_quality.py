import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from benchmarks.pack_quality import MARGIN, TRANSFER_LIMIT, pack, room_left
from openparts.data import synth
from openparts.data.dataset import PartDataset


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work folder as benchmarks/quality.py leaves it, with tiny synthetic sets."""
    root = tmp_path_factory.mktemp("work")
    synth.generate(root / "data" / "carparts" / "train", count=2, seed=1, size=64)
    synth.generate(root / "data" / "eval" / "carparts-test", count=2, seed=2, size=64)
    synth.generate(root / "data" / "ccp", count=12, seed=3, size=64)
    (root / "baselines.json").write_text(json.dumps({"tuned": {"slic": {"n_segments": 8}}}))
    (root / "baseline_store" / "segments").mkdir(parents=True)
    (root / "baseline_store" / "segments" / "ncut-0123.json").write_text("[]")
    return root


def _packed_size(work: Path, out: Path) -> int:
    pack(work, out, 2**30)
    return out.stat().st_size


def test_ccp_is_cut_to_its_first_images_that_fit_and_the_rest_is_packed_whole(work: Path, tmp_path: Path) -> None:
    whole = _packed_size(work, tmp_path / "whole.tar.gz")
    limit = whole - 4 * 2**10 * 3  # a few images less than all
    count = pack(work, tmp_path / "cut.tar.gz", limit)
    assert 0 < count < 12
    assert (tmp_path / "cut.tar.gz").stat().st_size <= limit
    with tarfile.open(tmp_path / "cut.tar.gz") as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked"
    assert (unpacked / "baselines.json").read_text() == (work / "baselines.json").read_text()
    assert (unpacked / "baseline_store" / "segments" / "ncut-0123.json").is_file()
    assert len(PartDataset.open(unpacked / "data" / "eval" / "carparts-test")) == 2
    cut, source = PartDataset.open(unpacked / "data" / "ccp"), PartDataset.open(work / "data" / "ccp")
    assert len(cut) == count
    assert (cut.read_image(count - 1) == source.read_image(count - 1)).all()


def test_a_folder_without_kept_baselines_is_named(work: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "data").symlink_to(work / "data")
    with pytest.raises(SystemExit, match=r"partial: no baselines.json, baseline_store; run"):
        pack(partial, tmp_path / "out.tar.gz", 2**30)
    assert not (tmp_path / "out.tar.gz").exists()


def test_a_limit_the_sets_alone_exceed_is_refused_and_writes_nothing(work: Path, tmp_path: Path) -> None:
    (tmp_path / "out.tar.gz").write_bytes(b"an earlier pack")
    with pytest.raises(SystemExit, match=r"MiB without CCP, over the limit"):
        pack(work, tmp_path / "out.tar.gz", 2**10)
    assert (tmp_path / "out.tar.gz").read_bytes() == b"an earlier pack"


def test_the_default_limit_leaves_room_for_what_travels_beside_the_tar(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/outputs/\n/.whl/\n")  # 17 bytes, untracked but not ignored: it travels
    (repo / "tracked.py").write_bytes(b"x" * 3000)
    (repo / "notes.md").write_bytes(b"n" * 700)  # untracked, not ignored: travels
    (repo / "outputs").mkdir()
    (repo / "outputs" / "big.bin").write_bytes(b"y" * 10**6)  # ignored: stays behind
    subprocess.run(["git", "-C", str(repo), "add", "tracked.py"], check=True)
    wheels = repo / ".whl"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"z" * 5000)
    assert room_left(repo, wheels) == TRANSFER_LIMIT - 17 - 3000 - 700 - 5000 - MARGIN
    assert room_left(repo, tmp_path / "no-wheels") == TRANSFER_LIMIT - 17 - 3000 - 700 - MARGIN
