"""A bench-quality work folder packed for a GPU machine that has neither ../shared/data nor room
for all of it (`benchmarks/gpu_checks.sh` unpacks it there).

    python -m benchmarks.pack_quality --work outputs/quality --out .devdata/quality.tar.gz

Packs what `benchmarks/quality.py` needs to train and score without making anything from
../shared/data: car-parts train, the evaluation sets with both mask kinds, the baselines' kept
parameters, scores and segments, and as many of CCP's images, from its first, as fit under the
limit. A lent machine takes at most 64 MiB per call: the repository's files that git does not
ignore, the wheels and this tar together, so the default limit is what the first two leave (a
fixed 62 MiB stopped fitting as the repository grew). The segments spare it minutes of SLIC,
Felzenszwalb and NCut on its CPU.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from openparts import atomic
from openparts.data.dataset import PartDataset
from openparts.data.subset import write_subset

log = logging.getLogger("benchmarks.pack_quality")
KEPT = ("data/carparts/train", "data/eval", "baselines.json", "baseline_store")  # packed whole
CCP = "data/ccp"
REPO = Path(__file__).resolve().parents[1]  # what travels to the lent machine, whatever the working directory
TRANSFER_LIMIT = 64 * 2**20  # what a lent machine takes per call
MARGIN = 2**19  # for files added or grown after packing


def pack(work: Path, out: Path, limit_bytes: int) -> int:
    """Write the tar (all or nothing) and return how many CCP images it holds."""
    missing = [name for name in (*KEPT, CCP) if not (work / name).exists()]
    if missing:
        raise SystemExit(
            f"{work}: no {', '.join(missing)}; run `python benchmarks/quality.py --work {work}` there first "
            "(its evaluation keeps the baselines' scores and segments)"
        )
    ccp = PartDataset.open(work / CCP)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as scratch:
        trial = Path(scratch) / "trial.tar.gz"
        _write_tar(trial, work, None)
        fixed = trial.stat().st_size
        if fixed >= limit_bytes:
            raise SystemExit(f"{work}: {fixed / 2**20:.1f} MiB without CCP, over the limit of {limit_bytes / 2**20:.1f} MiB")
        count = len(ccp)
        while count > 0:
            subset = write_subset(work / CCP, Path(scratch) / "ccp", list(range(count)), name=ccp.info.get("name", "ccp"), overwrite=True)
            _write_tar(trial, work, subset)
            size = trial.stat().st_size
            if size <= limit_bytes:
                break
            count = min(count - 1, int(count * (limit_bytes - fixed) / (size - fixed) * 0.99))
        if count <= 0:
            raise SystemExit(f"{work}: not one CCP image fits under {limit_bytes / 2**20:.1f} MiB")
        atomic.copy_file(trial, out)
    log.info("%s: %.1f MiB, CCP's first %d of %d images", out, out.stat().st_size / 2**20, count, len(ccp))
    return count


def room_left(repo: Path, wheels: Path) -> int:
    """Bytes the tar may take: the transfer limit less what travels beside it (the repository's
    files that git does not ignore, and the wheels), less a margin."""
    command = ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, check=True, capture_output=True).stdout
    travelling = sum((repo / name).stat().st_size for name in listed.decode().split("\0") if name and (repo / name).is_file())
    carried = sum(path.stat().st_size for path in wheels.glob("*.whl")) if wheels.is_dir() else 0
    return TRANSFER_LIMIT - travelling - carried - MARGIN


def _write_tar(path: Path, work: Path, ccp: Path | None) -> None:
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:  # the JSON (annotations, kept segments) shrinks several times
        for name in KEPT:
            tar.add(work / name, arcname=name)
        if ccp is not None:
            tar.add(ccp, arcname=CCP)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a work folder benchmarks/quality.py has evaluated in")
    parser.add_argument("--out", type=Path, default=REPO / ".devdata" / "quality.tar.gz", help="(default: where gpu_checks.sh reads it)")
    parser.add_argument("--wheels", type=Path, default=REPO / ".whl", help="wheels that travel beside it (default: the repo's .whl)")
    parser.add_argument("--limit-mib", type=float, help="the tar's largest size (default: 64 MiB less the repository and the wheels)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    limit = int(args.limit_mib * 2**20) if args.limit_mib is not None else room_left(REPO, args.wheels)
    pack(args.work, args.out, limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
