"""Reading MATLAB annotation files with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import scipy.io

from openparts.data.errors import DataError


def load_mat(path: Path, variable: str) -> Any:
    if not path.is_file():
        raise DataError(path, "annotation file does not exist")
    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises ValueError, TypeError or OSError on bad files
        raise DataError(path, f"not a readable MATLAB file ({error})") from None
    if variable not in contents:
        raise DataError(path, f"has no variable '{variable}' (found: {', '.join(k for k in contents if not k.startswith('__'))})")
    return contents[variable]
