"""The orchestration costs a user waits for: a full `dvc repro` of the six stages, a rerun with
nothing changed, and the rerun after new pictures land in the unlabeled drop zone, on the tiny
preset in a scratch copy of the project. Ratios are against the full run measured in the same
run. (`make run` figures on the demo budget are in the README.)

    python -m benchmarks.pipeline_speed [--work outputs/bench-pipeline]   (from the repository root)
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

from PIL import Image
from skimage import data

from pipelines.scratch import make_project, tiny_params

log = logging.getLogger("bench")


def repro(folder: Path) -> float:
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OPENPARTS_TRACKING": "off"}
    started = time.perf_counter()
    subprocess.run([str(bin_dir / "dvc"), "repro", "-q"], cwd=folder, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def project(work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    return make_project(work, tiny_params(iterations=6, images=8))


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
