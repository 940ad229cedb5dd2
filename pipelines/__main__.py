"""`python -m pipelines compile [--out FILE]` and `python -m pipelines run-local ...`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("pipelines")
DEFAULT_IR = Path(__file__).resolve().parent / "openparts-ops.yaml"


def compile_pipeline(out: Path) -> Path:
    from kfp import compiler

    from pipelines.pipeline import build_pipeline

    compiler.Compiler().compile(build_pipeline(kubernetes=True), str(out))
    return out


def run_local(labeled: str, unlabeled: str, test: str, dev: str, params_file: str, root: Path) -> dict:
    """The whole DAG with `kfp.local.SubprocessRunner(use_venv=False)`: this environment's openparts."""
    from kfp import local

    from openparts.stages.manifest import content_hash
    from openparts.stages.params import pipeline_params
    from pipelines.pipeline import build_pipeline

    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root.resolve()), raise_on_error=True)
    uris = {"labeled": labeled, "unlabeled": unlabeled, "test": test, "dev": dev}
    arguments = {f"{role}_uri": str(Path(uri).resolve()) for role, uri in uris.items()}
    arguments.update({f"{role}_hash": content_hash(uri) for role, uri in uris.items()})
    task = build_pipeline(kubernetes=False)(params=json.dumps(pipeline_params(params_file)), **arguments)
    return {"state": "SUCCEEDED", "outputs": str(getattr(task, "outputs", {}))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("compile", help="write the pipeline's IR YAML")
    build.add_argument("--out", type=Path, default=DEFAULT_IR)
    local_run = commands.add_parser("run-local", help="run the whole pipeline here with kfp.local")
    for role in ("labeled", "unlabeled", "test", "dev"):
        local_run.add_argument(f"--{role}", required=True, help=f"{role} dataset folder")
    local_run.add_argument("--params", default="params.yaml")
    local_run.add_argument("--root", type=Path, default=Path("outputs/kfp-local"), help="pipeline root for the artifacts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "compile":
        log.info("wrote %s", compile_pipeline(args.out))
    else:
        log.info("%s", run_local(args.labeled, args.unlabeled, args.test, args.dev, args.params, args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
