"""Loss curves of a training stage as `loss.csv` (step, loss terms, learning rate): what
`dvc plots show` draws (declared in dvc.yaml) and what a reviewer diffs between two runs.
Only deterministic columns: a resumed run writes the same file as an uninterrupted one."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openparts import atomic
from openparts.model.checkpoint import read_description


def write_loss_curve(model_dir: Path, out_file: Path) -> Path:
    history = read_description(model_dir).get("training", {}).get("history", [])
    columns = ["step", *sorted({key for entry in history for key in entry} - {"step"})]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic.write_text(out_file, text.getvalue())
    return out_file
