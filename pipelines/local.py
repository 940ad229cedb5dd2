"""DVC commands inside one MLflow parent run: what `make run`, the watcher and experiments share.

The parent run's id reaches every stage through OPENPARTS_PARENT_RUN_ID (DVC passes the
environment down), so the stages become its children; the parent ends FINISHED or FAILED with
the command. Tracking off or unreachable: the command runs alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from openparts import tracking


class DvcError(RuntimeError):
    """A DVC command failed; DVC has already said why on the terminal."""


def dvc(workdir: Path, arguments: list[str], run_name: str, params: dict[str, Any] | None = None) -> None:
    """`dvc <arguments>` in `workdir` inside a parent run named `run_name` (in the experiment of
    `params`' `experiment` group, else the default one)."""
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    parent = tracking.start_pipeline_run(run_name, params)
    if parent:
        environment[tracking.PARENT_ENV] = parent
    status = "FAILED"
    try:
        result = subprocess.run([str(bin_dir / "dvc"), *arguments], cwd=workdir, env=environment, check=False)
        if result.returncode != 0:
            raise DvcError(f"dvc {' '.join(arguments)} in {workdir} failed with exit code {result.returncode}")
        status = "FINISHED"
    finally:
        if parent:
            tracking.end_pipeline_run(parent, status)


def unchanged(workdir: Path) -> bool:
    """True when `dvc status` finds every stage up to date (a rerun would only check hashes)."""
    dvc_bin = Path(sys.executable).parent / "dvc"
    return subprocess.run([str(dvc_bin), "status", "-q"], cwd=workdir, check=False).returncode == 0
