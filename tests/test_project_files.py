"""The files that wire the project together agree with each other and with the code."""

import shlex

import yaml

from openparts.cli import build_parser
from tests.conftest import REPO


def test_dvc_demo_data_commands_are_valid_openparts_commands() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["demo_data"]
    assert stage["foreach"] == "${data.demo}"
    for key, item in params["data"]["demo"].items():
        command = stage["do"]["cmd"].replace("${key}", key)
        for field, value in item.items():
            command = command.replace("${item." + field + "}", str(value))
        argv = shlex.split(command)
        assert argv[0] == "openparts"
        args = build_parser().parse_args(argv[1:])
        assert (args.split, args.count, args.seed, args.size) == (item["split"], item["count"], item["seed"], item["size"])


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci


def test_layout_of_the_design_exists() -> None:
    for name in ("pipelines", "components", "images", "data", "tests", "benchmarks", "src/openparts", "Makefile", "dvc.yaml"):
        assert (REPO / name).exists(), name
