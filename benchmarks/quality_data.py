"""The data of the quality benchmark: converted sources, evaluation sets and unlabeled pools.

Seen sources (../shared/data): car-parts train and Clothing Co-Parsing (persons). Evaluated on
car-parts test and the Pascal-Part samples (Pascal-Part-58 grouping, one object per crop): all of
them, persons, the other categories and the categories no training source shows. Each set with
its own object masks and with the bundled salient-object model's, each also as its held-out half.
"""

from __future__ import annotations

from pathlib import Path

from openparts.data.adapters import convert
from openparts.data.dataset import PartDataset
from openparts.data.subset import write_subset, write_union
from openparts.data.synth import generate
from openparts.objects import make_masker
from openparts.objects.apply import write_with_object_masks

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
POOL_SETS = ("carparts-test", "pascal58-person", "pascal58-nonperson")  # disjoint: their images are the unlabeled pool
# the two evaluation sets the targets name, then the Pascal-Part samples split by category; the last three lie inside pascal58-all
SETS = ("carparts-test", "pascal58-all", "pascal58-person", "pascal58-nonperson", "pascal58-unseen")
WHOLE_PASCAL = "pascal58-all"
SEEN_CATEGORIES = ("person", "car")  # Pascal-Part categories a training source shows (CCP, car-parts)
# The honest adaptation: OPS adapted on one half of each evaluation set's images (even positions in
# car-parts test and in the Pascal-Part crops), scored on the other half (`<set>-heldout`)
HELD_OUT = "-heldout"


def prepare_data(work: Path, synthetic_images: int) -> dict[str, Path]:
    """Converted sources, the evaluation sets (perfect and salient masks) and their held-out halves,
    the unlabeled pools (all evaluation images; the other halves) and, when `synthetic_images` > 0,
    the synthetic categories. Only what is missing is made, so a work folder prepared on another
    machine (a GPU node without ../shared/data) runs as it is."""
    data = work / "data"
    paths = {"carparts-train": data / "carparts" / "train", "ccp": data / "ccp"}
    for name in SETS:
        for view in (name, f"{name}{HELD_OUT}"):
            paths[view], paths[f"{view}-salient"] = data / "eval" / view, data / "eval" / f"{view}-salient"
    if not all(_ready(folder) for folder in paths.values()):
        _convert_sources(data)
        _write_evaluation_sets(data, paths)  # a set added since the folder was made is cut from the converted sources
    if not _ready(data / "unlabeled"):
        write_union([paths[f"{name}-salient"] for name in POOL_SETS], data / "unlabeled", name="unlabeled", overwrite=True)
    paths["unlabeled"] = data / "unlabeled"
    paths["unlabeled-half"] = _adaptation_half(data, paths)
    if synthetic_images:
        synthetic = paths["synthetic"] = data / "synthetic"
        if not _ready(synthetic) or len(PartDataset.open(synthetic)) != synthetic_images:
            generate(synthetic, synthetic_images, "seen", seed=100, size=256, overwrite=True)  # a set of another size is remade
    return paths


def _ready(folder: Path) -> bool:
    return (folder / "annotations.json").is_file()


def _convert_sources(data: Path) -> None:
    """Converts the sources not yet converted: ../shared/data is needed only for those."""
    # (adapter, its source in SHARED, the folder it writes, the set there that shows it done, options)
    conversions = [
        ("car-parts", "car-parts", data / "carparts", data / "carparts" / "test", {}),
        ("ccp", "clothing-co-parsing", data / "ccp", data / "ccp", {}),
        ("pascal-part", "pascal-part-samples", data / "pascal58", data / "pascal58", {"grouping": "58"}),
    ]
    missing = [conversion for conversion in conversions if not _ready(conversion[3])]
    if missing and not SHARED.is_dir():
        raise SystemExit(
            f"{data}: the prepared data are incomplete and {SHARED} (car-parts, clothing-co-parsing, "
            "pascal-part-samples; see its README.md) is not there to make them from"
        )
    for adapter, source, folder, _, options in missing:
        convert(adapter, SHARED / source, folder, overwrite=True, **options)


def _write_evaluation_sets(data: Path, paths: dict[str, Path]) -> None:
    """Each set with its own object masks and with the salient model's. The salient model runs
    once per photo: on car-parts test and on all Pascal-Part crops (`pascal58-all`), whose
    salient view the Pascal-Part subsets are cut from, so a crop has the same mask in every set."""
    pascal = PartDataset.open(data / "pascal58")
    subsets = pascal_subsets([record.get("object_category") for record in pascal.images])
    masker = None
    for name in ("carparts-test", WHOLE_PASCAL):
        source, indices = (data / "carparts" / "test", None) if name == "carparts-test" else (data / "pascal58", subsets[name])
        if not _ready(paths[name]):
            write_subset(source, paths[name], indices, name=name, overwrite=True)
        if not _ready(paths[f"{name}-salient"]):
            masker = masker or make_masker("salient")
            write_with_object_masks(paths[name], paths[f"{name}-salient"], masker, "salient", overwrite=True, name=f"{name}-salient")
    for name, indices in subsets.items():
        for view, source in ((name, data / "pascal58"), (f"{name}-salient", paths[f"{WHOLE_PASCAL}-salient"])):
            if not _ready(paths[view]):  # pascal58-all's indices are all crops in order, so both sources line up
                write_subset(source, paths[view], indices, name=view, overwrite=True)
    for name in SETS:
        _, held_out = halves(source_indices(data, name, subsets))
        for masks in ("", "-salient"):
            view = f"{name}{HELD_OUT}{masks}"
            if not _ready(paths[view]):
                write_subset(paths[f"{name}{masks}"], paths[view], held_out, name=view, overwrite=True)


def source_indices(data: Path, name: str, subsets: dict[str, list[int]]) -> list[int]:
    """Each image of an evaluation set as its index in its source (car-parts test, or the Pascal-Part crops)."""
    return list(range(len(PartDataset.open(data / "carparts" / "test")))) if name == "carparts-test" else subsets[name]


def halves(indices: list[int]) -> tuple[list[int], list[int]]:
    """Positions of a set's images to adapt on (even source index) and to score on (odd): by source
    index, so a Pascal-Part crop falls in the same half of every set that holds it."""
    return [p for p, i in enumerate(indices) if i % 2 == 0], [p for p, i in enumerate(indices) if i % 2 == 1]


def _adaptation_half(data: Path, paths: dict[str, Path]) -> Path:
    """The unlabeled pool of the held-out protocol: the halves of the pool's sets that are not scored."""
    pool = data / "unlabeled-half"
    if not _ready(pool):
        subsets = pascal_subsets([record.get("object_category") for record in PartDataset.open(data / "pascal58").images])
        parts = []
        for name in POOL_SETS:
            adapt, _ = halves(source_indices(data, name, subsets))
            parts.append(write_subset(paths[f"{name}-salient"], data / "eval" / f"adapt-half-{name}", adapt, overwrite=True))
        write_union(parts, pool, name="unlabeled-half", overwrite=True)
    return pool


def pascal_subsets(categories: list[str | None]) -> dict[str, list[int]]:
    """The Pascal-Part crops of each evaluation set, by their object's category: all of them,
    persons, the rest (the categories training calls unseen) and the rest without the categories
    training shows (a crop whose category is not recorded cannot be called unseen)."""
    return {
        "pascal58-all": list(range(len(categories))),
        "pascal58-person": [i for i, name in enumerate(categories) if name == "person"],
        "pascal58-nonperson": [i for i, name in enumerate(categories) if name != "person"],
        "pascal58-unseen": [i for i, name in enumerate(categories) if name is not None and name not in SEEN_CATEGORIES],
    }
