"""The container image: its pins agree with pyproject.toml, it runs as non-root, and (where a
Docker engine exists) the CPU variant builds and runs a stage."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from openparts.data import synth
from tests.conftest import REPO

DOCKERFILE = REPO / "images" / "Dockerfile"


def pins() -> dict[str, str]:
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(re.match(r"([\w-]+)==([\w.]+)", item).groups() for item in requirements if "==" in item)


def test_torch_pins_agree_with_pyproject() -> None:
    text = DOCKERFILE.read_text()
    assert f"ARG TORCH_VERSION={pins()['torch']}" in text
    assert f"ARG TORCHVISION_VERSION={pins()['torchvision']}" in text
    assert re.search(r"ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim", text), "the base image must be pinned to a patch release"


def test_the_runtime_stage_runs_as_a_non_root_user() -> None:
    runtime = DOCKERFILE.read_text().split(" AS runtime", 1)[1]
    user = re.search(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user and not user.group(1).startswith(("0", "root"))


def test_the_build_context_excludes_local_state() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*" and set(rules) >= {"!pyproject.toml", "!src/"}


def docker_ready() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no Docker engine here (docker not found): the image build test runs where one is present")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False).returncode != 0:
        pytest.skip("docker is installed but its engine does not answer (docker info failed)")


def test_cpu_image_builds_and_runs_a_stage(tmp_path: Path) -> None:
    docker_ready()
    tag = "openparts-cpu:test"
    build = ["docker", "build", "-f", str(DOCKERFILE), "--build-arg", "VARIANT=cpu", "-t", tag, str(REPO)]
    subprocess.run(build, check=True, timeout=3600)
    synth.generate(tmp_path / "data" / "demo", count=2, size=48)
    (tmp_path / "out").mkdir(mode=0o777)
    (tmp_path / "out").chmod(0o777)
    command = ["docker", "run", "--rm", "-e", "OPENPARTS_TRACKING=off", "-v", f"{tmp_path}:/mnt/openparts", tag]
    stage = ["openparts", "stage", "object_masks", "--input", "data=/mnt/openparts/data/demo", "--out", "/mnt/openparts/out/masks"]
    subprocess.run([*command, *stage], check=True, timeout=600)
    assert (tmp_path / "out" / "masks" / "manifest.json").is_file()
