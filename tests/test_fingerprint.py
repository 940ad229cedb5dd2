import json
from pathlib import Path

import pytest

from openparts import fingerprint
from openparts.fingerprint import MANIFEST, content_hash


def test_content_hash_depends_on_names_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("1")
    first = content_hash(tmp_path / "a")
    (tmp_path / "a" / "x").write_text("2")
    assert content_hash(tmp_path / "a") != first
    (tmp_path / "a" / MANIFEST).write_text(json.dumps({}))
    (tmp_path / "a" / "x").write_text("1")
    assert content_hash(tmp_path / "a") == first


def test_content_hash_reads_a_folder_once_and_sees_every_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.txt").write_text("one")
    reads = []
    real = fingerprint._digest
    monkeypatch.setattr(fingerprint, "_digest", lambda root, files: reads.append(root) or real(root, files))
    first = fingerprint.content_hash(folder)
    assert fingerprint.content_hash(folder) == first and len(reads) == 1  # fingerprint, manifest, MLflow input: one read
    (folder / "a.txt").write_text("two")
    assert fingerprint.content_hash(folder) != first
    (folder / "b.txt").write_text("new file")
    assert len({first, fingerprint.content_hash(folder)}) == 2 and len(reads) == 3
