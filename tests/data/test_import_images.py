"""The drop zone's pictures become an unlabeled dataset; bad pictures are named, not trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openparts.data.dataset import PartDataset
from openparts.data.errors import DataError
from openparts.data.import_images import import_images
from openparts.data.validate import validate


def picture(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_pictures_join_the_base_set_without_masks(tiny_dataset: Path, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    picture(drop / "a.png")
    picture(drop / "day-2" / "b.jpg", (50, 20))
    (drop / "README.md").write_text("not a picture")
    (drop / ".hidden.png").write_bytes(b"ignored, hidden")
    out = import_images(drop, tmp_path / "pool", add_to=tiny_dataset, name="demo-unlabeled")
    pool = PartDataset.open(out)
    assert len(pool) == 3 + 2 and not pool.labeled and pool.info["name"] == "demo-unlabeled"
    assert [record["source_file"] for record in pool.images[3:]] == ["a.png", "day-2/b.jpg"]
    assert all(pool.object_mask(i) is not None for i in range(3)) and pool.object_mask(3) is None
    assert (pool.images[4]["width"], pool.images[4]["height"]) == (50, 20)
    validate(out, require_object_masks=False)
    with pytest.raises(Exception, match="object mask"):
        validate(out)  # the object_masks stage must give the new pictures theirs


def test_an_unreadable_picture_stops_the_import_with_its_name(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    picture(drop / "good.png")
    (drop / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DataError, match="broken.jpg"):
        import_images(drop, tmp_path / "pool")
    assert not (tmp_path / "pool").exists()


def test_a_symlink_out_of_the_drop_zone_is_refused(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "elsewhere.png").symlink_to(picture(tmp_path / "outside" / "secret.png"))
    with pytest.raises(DataError, match="outside the images folder"):
        import_images(drop, tmp_path / "pool")


def test_nothing_to_import_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    with pytest.raises(DataError, match="no pictures to import"):
        import_images(tmp_path / "drop", tmp_path / "pool")
    with pytest.raises(DataError, match="does not exist"):
        import_images(tmp_path / "missing", tmp_path / "pool")
