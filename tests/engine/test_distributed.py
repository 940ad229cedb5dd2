"""Two CPU processes under torchrun (gloo) end with identical weights."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from openparts.data import synth
from tests.conftest import REPO

RANK_SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    import torch
    from openparts.config import resolve
    from openparts.engine.supervised import training_datasets
    from openparts.engine.trainer import Trainer
    from openparts.model import build_model

    data, out, report = sys.argv[1:4]
    config = resolve("tiny", ["train.iterations=3", "train.checkpoint_every=100"])
    torch.manual_seed(0)  # every rank starts from the same weights, as DDP requires
    model = build_model(config["model"])
    before = sum(float(p.detach().abs().sum()) for p in model.parameters())
    Trainer(model, training_datasets([data], config, []), config, out).train()
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    after = sum(float(p.detach().abs().sum()) for p in model.parameters())
    with open(f"{report}.{os.environ['RANK']}", "w") as handle:
        handle.write(f"{digest.hexdigest()} {before != after} {os.environ['WORLD_SIZE']}")
    """
)


def test_two_process_ddp_on_cpu_keeps_ranks_identical(tmp_path: Path) -> None:
    data = synth.generate(tmp_path / "train", count=8, seed=0, size=64)
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(data),
        str(tmp_path / "model"),
        str(tmp_path / "report"),
    ]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [(tmp_path / f"report.{rank}").read_text().split() for rank in (0, 1)]
    assert reports[0][0] == reports[1][0], "ranks diverged"
    assert reports[0][1:] == ["True", "2"]  # weights changed, two processes took part
    assert (tmp_path / "model" / "model.safetensors").is_file()
