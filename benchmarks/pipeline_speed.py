"""The orchestration costs a user waits for: a full `dvc repro` of the six stages, a rerun with
nothing changed, and the rerun after new pictures land in the unlabeled drop zone, on the tiny
preset in a scratch copy of the project. Ratios are against the full run measured in the same
run. (`make run` figures on the demo budget are in the README.)

    python benchmarks/pipeline_speed.py [--work outputs/bench-pipeline]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from PIL import Image
from skimage import data

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench")


def tiny_params() -> dict:
    """The project's params.yaml on the tiny preset and tiny demo data (every other group as shipped)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preset"] = "tiny"
    params["overrides"] = {"train.iterations": 6, "finetune.iterations": 4}
    sizes = {"train": ("seen", 8, 0), "dev": ("seen", 2, 3), "unlabeled": ("unseen", 6, 1), "test": ("unseen", 4, 2)}
    params["data"]["demo"] = {name: {"split": s, "count": c, "seed": seed, "size": 64} for name, (s, c, seed) in sizes.items()}
    params["evaluate"] = {"baselines": ["felzenszwalb"], "dev_images": 2, "post_aware": True}
    return params


def repro(folder: Path) -> float:
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OPENPARTS_TRACKING": "off"}
    started = time.perf_counter()
    subprocess.run([str(bin_dir / "dvc"), "repro", "-q"], cwd=folder, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def project(work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / ".dvc", work / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp", "config.local"))
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    (work / "data" / "unlabeled").mkdir(parents=True)
    shutil.copy(REPO / "data" / "unlabeled" / "README.md", work / "data" / "unlabeled")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("outputs/bench-pipeline"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = project(args.work.resolve())
    full = repro(folder)
    noop = repro(folder)
    drop = folder / "data" / "unlabeled" / "new"
    drop.mkdir()
    Image.fromarray(data.astronaut()).resize((64, 64)).save(drop / "astronaut.jpg")
    Image.fromarray(data.chelsea()).resize((64, 48)).save(drop / "chelsea.jpg")
    incremental = repro(folder)
    log.info("full dvc repro (six stages, tiny preset)   %6.1f s", full)
    log.info("no-op rerun (nothing changed)              %6.1f s  (%.3f of the full run)", noop, noop / full)
    log.info("rerun after 2 new unlabeled pictures       %6.1f s  (%.2f of the full run)", incremental, incremental / full)


if __name__ == "__main__":
    main()
