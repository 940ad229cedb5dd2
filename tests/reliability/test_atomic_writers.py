"""Every file openparts writes goes through `openparts.atomic` (temp file in the same folder,
fsync, rename). This scans the package for any other writer; a line that writes to memory or to
a scratch folder says so with `# atomic-ok: <why>`."""

from __future__ import annotations

import re

from tests.conftest import REPO

PACKAGE = REPO / "src" / "openparts"
SCANNED = (PACKAGE, REPO / "pipelines", REPO / "components")
WRITERS = {
    "open() for writing": re.compile(r"\bopen\([^)]*(?:,\s*|mode=)['\"][wax+]"),
    "Path.write_text/write_bytes": re.compile(r"(?<!atomic)\.write_(?:text|bytes)\("),
    "torch.save / numpy save": re.compile(r"\b(?:torch\.save|np\.save[z]?|numpy\.save[z]?)\(|\.tofile\("),
    "safetensors / transformers save": re.compile(r"\bsave_file\(|\.save_pretrained\("),
    "PIL / figure save": re.compile(r"(?<!torch)\.save\(|\.savefig\("),
    "copy / move / rename": re.compile(r"\bshutil\.(?:copy\w*|move)\(|\bos\.(?:rename|replace)\(|\.rename\("),
    "json / yaml dump to a stream": re.compile(r"\bjson\.dump\(|\byaml\.(?:safe_)?dump\([^)]*,"),
}
MARKER = "# atomic-ok:"


def violations(source: str) -> list[str]:
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0] if MARKER not in line else ""
        found += [f"{number}: {kind}: {line.strip()}" for kind, pattern in WRITERS.items() if pattern.search(code)]
    return found


def test_no_module_writes_files_around_the_atomic_helper() -> None:
    offenders = {}
    for path in sorted(path for folder in SCANNED for path in folder.rglob("*.py")):
        if path.name == "atomic.py" and path.parent == PACKAGE:
            continue  # the one place that may
        found = violations(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(REPO))] = found
    assert not offenders, f"write through openparts.atomic instead: {offenders}"


def test_the_scan_catches_each_kind_of_writer() -> None:
    """The scan must not pass vacuously: every writer it looks for is caught, markers excepted."""
    planted = [
        'with open(path, "w") as f:',
        "open(path, mode='wb')",
        "Path(x).write_text('y')",
        "torch.save(state, path)",
        "np.save(path, array)",
        "save_file(tensors, path)",
        "image.save(path)",
        "shutil.copy(a, b)",
        "os.replace(a, b)",
        "json.dump(payload, handle)",
        "yaml.safe_dump(payload, handle)",
    ]
    for line in planted:
        assert violations(line), line
    assert not violations('with open(path, "rb") as f:')
    assert not violations("image.save(buffer)  # atomic-ok: in memory")
    assert not violations("text = name.replace('a', 'b')")
