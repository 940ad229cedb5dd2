"""docs/bad-inputs.md is a promise: every row names a test that exists, and the table covers at
least 30 bad inputs across images, annotations, object masks, checkpoints, parameters and paths."""

from __future__ import annotations

import re

from tests.conftest import REPO

CATALOGUE = REPO / "docs" / "bad-inputs.md"


def rows() -> list[list[str]]:
    lines = [line for line in CATALOGUE.read_text().splitlines() if re.match(r"\| \d+ \|", line)]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_row_names_a_test_that_exists() -> None:
    missing = []
    for number, _, _, tests in rows():
        references = re.findall(r"`([\w/]*?)(\w+\.py)::(\w+)`", tests)
        if not references:
            missing.append(f"row {number}: no test named")
        for folder, file_name, name in references:
            # `tests/x/test_y.py::name`, or the short `test_y.py::name` for a file named once under tests/
            candidates = [REPO / folder / file_name] if folder else list((REPO / "tests").rglob(file_name))
            if not any(path.is_file() and re.search(rf"def {name}\(", path.read_text()) for path in candidates):
                missing.append(f"row {number}: {folder}{file_name}::{name} not found")
    assert not missing, missing


def test_the_catalogue_covers_every_kind_of_input() -> None:
    table = rows()
    assert len(table) >= 30 and [int(row[0]) for row in table] == list(range(1, len(table) + 1))
    text = " ".join(row[1].lower() for row in table)
    for kind in ("image", "annotation", "object mask", "checkpoint", "param", "symlink", "bomb", "s3", "credential"):
        assert kind in text, f"no row about {kind}"
