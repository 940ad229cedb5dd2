"""Errors for bad input data: each names the file and the problem."""

from __future__ import annotations

import os


class DataError(ValueError):
    """A data file is unusable; the message starts with the file so a user can find it."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class InvalidDatasetError(ValueError):
    """`validate()` found problems; `problems` lists every one as 'file: problem'."""

    def __init__(self, root: str | os.PathLike[str], problems: list[str]) -> None:
        self.root = str(root)
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{self.root}: dataset is invalid ({len(problems)} problems):\n  {shown}{more}")
