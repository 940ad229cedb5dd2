"""`python -m pipelines repro | compile | run-local | submit | schedule | watch | experiment`: see pipelines/README.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("pipelines")
DEFAULT_IR = Path(__file__).resolve().parent / "openparts-ops.yaml"
TOKEN_ENV = "KFP_TOKEN"
"""A bearer token for the KFP API is read from here, never from the command line (shell history, ps)."""


def compile_pipeline(out: Path) -> Path:
    from kfp import compiler

    from pipelines.pipeline import build_pipeline

    compiler.Compiler().compile(build_pipeline(kubernetes=True), str(out))
    return out


def run_local(labeled: str, unlabeled: str, test: str, dev: str, params_file: str, root: Path) -> dict:
    """The whole DAG with `kfp.local.SubprocessRunner(use_venv=False)`: this environment's openparts."""
    from kfp import local

    from pipelines.pipeline import build_pipeline
    from pipelines.submit import pipeline_arguments

    arguments = pipeline_arguments({"labeled": labeled, "unlabeled": unlabeled, "test": test, "dev": dev}, params_file)
    folder = run_folder(root)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(folder), raise_on_error=True)
    task = build_pipeline(kubernetes=False)(**arguments)
    return {"state": "SUCCEEDED", "root": str(folder), "outputs": str(getattr(task, "outputs", {}))}


def run_folder(root: Path) -> Path:
    """A folder of its own for one local run (time-stamped, unique even for runs started in the
    same second), so two runs sharing a root never write into each other's artifacts."""
    import tempfile
    import time

    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=root)).resolve()


def _data_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    for role in ("labeled", "unlabeled", "test", "dev"):
        parser.add_argument(f"--{role}", required=required, help=f"{role} dataset: a folder, or s3://bucket/prefix on a cluster")
    parser.add_argument("--params", default="params.yaml", help="the pipeline's parameters (default: %(default)s)")


def _cluster_arguments(parser: argparse.ArgumentParser, host_required: bool = True) -> None:
    parser.add_argument("--host", required=host_required, default=os.environ.get("KF_PIPELINES_ENDPOINT"), help="KFP API URL")
    parser.add_argument("--namespace", help="Kubernetes namespace (multi-user deployments)")
    parser.add_argument("--package", type=Path, default=DEFAULT_IR, help="compiled pipeline (default: the reviewed IR)")
    parser.add_argument("--experiment", default="openparts", help="KFP experiment (default: %(default)s)")
    parser.add_argument("--pipeline-root", help="where KFP stores artifacts, e.g. s3://bucket/kfp")
    parser.add_argument("--accelerator", default="nvidia.com/gpu", help="GPU resource name (default: %(default)s)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per GPU stage (default: %(default)s)")
    parser.add_argument(
        "--baseline-store-claim",
        default="",
        help="a PersistentVolumeClaim (ReadWriteMany, writable by uid 10001) that evaluate keeps the baselines in between "
        "runs; without it they are made anew in every run",
    )


def _client(args: argparse.Namespace):
    from pipelines.submit import connect

    return connect(args.host, args.namespace, os.environ.get(TOKEN_ENV))


def _arguments(args: argparse.Namespace, unlabeled: str | None = None) -> dict:
    from pipelines.submit import pipeline_arguments

    uris = {"labeled": args.labeled, "unlabeled": unlabeled or args.unlabeled, "test": args.test, "dev": args.dev}
    return pipeline_arguments(uris, args.params, **_cluster_settings(args))


def _cluster_settings(args: argparse.Namespace) -> dict:
    """The pipeline parameters that say how the cluster runs it, not what it computes."""
    return {"accelerator": args.accelerator, "gpus": args.gpus, "baseline_store_claim": args.baseline_store_claim}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    repro = commands.add_parser("repro", help="dvc repro inside an MLflow parent run (make run); nothing when nothing changed")
    repro.add_argument("--workdir", type=Path, default=Path("."), help="where dvc.yaml is")
    repro.add_argument("--name", default="make run", help="the parent run's name")

    build = commands.add_parser("compile", help="write the pipeline's IR YAML")
    build.add_argument("--out", type=Path, default=DEFAULT_IR)

    local_run = commands.add_parser("run-local", help="run the whole pipeline here with kfp.local")
    _data_arguments(local_run)
    local_run.add_argument("--root", type=Path, default=Path("outputs/kfp-local"), help="pipeline root for the artifacts")

    submit = commands.add_parser("submit", help="start one run on a Kubeflow Pipelines cluster")
    _data_arguments(submit)
    _cluster_arguments(submit)
    submit.add_argument("--run-name", help="display name (default: the package name and the time)")

    recurring = commands.add_parser("schedule", help="create a recurring run on a Kubeflow Pipelines cluster")
    _data_arguments(recurring)
    _cluster_arguments(recurring)
    recurring.add_argument("--cron", required=True, help="6 fields, seconds first: '0 0 3 * * *' = 03:00 every day")
    recurring.add_argument("--name", default="openparts-ops", help="the recurring run's name")
    recurring.add_argument("--max-concurrency", type=int, default=1)
    recurring.add_argument("--enable-caching", action="store_true", help="only when the URIs name immutable data")

    watcher = commands.add_parser("watch", help="rerun when new unlabeled data lands (dvc repro, or a KFP run with --host)")
    watcher.add_argument("--drop", default="data/unlabeled", help="drop zone: a folder or s3:// prefix (default: %(default)s)")
    watcher.add_argument("--state", type=Path, default=Path("outputs/watch-state.json"), help="last hash that ran through")
    bound = watcher.add_mutually_exclusive_group(required=True)
    bound.add_argument("--once", action="store_true", help="poll once")
    bound.add_argument("--max-polls", type=int, help="poll this many times, then stop")
    watcher.add_argument("--interval", type=float, default=60.0, help="seconds between polls (default: %(default)s)")
    watcher.add_argument("--workdir", type=Path, default=Path("."), help="local mode: where dvc.yaml is")
    _data_arguments(watcher, required=False)
    _cluster_arguments(watcher, host_required=False)

    table = commands.add_parser("experiment", help="run a paper table (experiments/NAME.yaml): dvc exp run per variant, or KFP runs")
    table.add_argument("name", help="experiment file name, e.g. table2")
    table.add_argument("--variant", action="append", help="run only this variant (repeat; default: all)")
    table.add_argument("--demo", action="store_true", help="params.yaml's datasets and preset, salient masks: try it")
    table.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a params.yaml entry last")
    table.add_argument("--workdir", type=Path, default=Path("."), help="local mode: where dvc.yaml is")
    table.add_argument("--data-root", help="cluster mode: where the `data/` folders are, e.g. s3://bucket/openparts/data")
    _cluster_arguments(table, host_required=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from openparts import storage
    from pipelines.experiment import ExperimentError
    from pipelines.local import DvcError
    from pipelines.submit import SubmitError

    try:
        if args.command == "repro":
            from pipelines import local

            if local.unchanged(args.workdir):
                log.info("dvc: nothing changed since the last run")
            else:
                local.dvc(args.workdir, ["repro"], args.name)
        elif args.command == "compile":
            log.info("wrote %s", compile_pipeline(args.out))
        elif args.command == "run-local":
            log.info("%s", run_local(args.labeled, args.unlabeled, args.test, args.dev, args.params, args.root))
        elif args.command == "submit":
            from pipelines.submit import submit

            run_id = submit(_client(args), args.package, _arguments(args), args.experiment, args.run_name, args.pipeline_root)
            sys.stdout.write(run_id + "\n")
        elif args.command == "schedule":
            from pipelines.submit import schedule

            recurring_id = schedule(
                _client(args),
                args.package,
                _arguments(args),
                args.cron,
                args.experiment,
                args.name,
                args.max_concurrency,
                args.enable_caching,
                args.pipeline_root,
            )
            sys.stdout.write(recurring_id + "\n")
        elif args.command == "experiment":
            _experiment(args)
        else:
            _watch(args)
    except (SubmitError, storage.StorageError, ExperimentError, DvcError) as error:
        log.error("%s", error)
        return 2
    return 0


def _experiment(args: argparse.Namespace) -> None:
    import yaml

    from pipelines import experiment
    from pipelines.submit import pipeline_arguments, submit

    spec = experiment.load(args.name)
    variants = args.variant or list(spec["variants"])
    if not args.host:
        names = experiment.run_local(spec, args.workdir, variants, args.demo, args.set)
        log.info("DVC experiments %s (dvc exp show), MLflow experiment openparts-%s: openparts report tables", ", ".join(names), args.name)
        return
    if not args.data_root:
        raise experiment.ExperimentError("--host needs --data-root: where the experiment's data/ folders are on the cluster")
    client = _client(args)
    base = yaml.safe_load((args.workdir / "params.yaml").read_text(encoding="utf-8")) or {}

    def send(uris: dict[str, str], params_file: Path, run_name: str) -> str:
        arguments = pipeline_arguments(uris, params_file, **_cluster_settings(args))
        return submit(client, args.package, arguments, args.name, run_name, args.pipeline_root)

    for variant, run_id in experiment.submit_cluster(spec, variants, base, args.data_root, send, args.set).items():
        sys.stdout.write(f"{variant} {run_id}\n")


def _watch(args: argparse.Namespace) -> None:
    from pipelines.submit import SubmitError, submit
    from pipelines.watch import dvc_repro, watch

    if args.host:
        if not all((args.labeled, args.test, args.dev)):
            raise SubmitError("watch --host needs --labeled, --test and --dev (the drop zone is the unlabeled set)")
        client = _client(args)

        def rerun(new_hash: str) -> None:
            submit(client, args.package, _arguments(args, unlabeled=args.drop), args.experiment, f"new unlabeled data {new_hash[:12]}")

    else:
        rerun = dvc_repro(args.workdir)
    reruns = watch(args.drop, rerun, args.state, args.interval, 1 if args.once else args.max_polls)
    log.info("watch: %d rerun(s)", reruns)


if __name__ == "__main__":
    sys.exit(main())
