"""The paper's Tables 1-5 beside our runs of them (`make experiment NAME=tableN`).

Each table's runs live in the MLflow experiment `openparts-tableN`; a variant's numbers are
the metrics of its newest finished `evaluate` stage run (tags `openparts.stage`,
`openparts.variant`). A row names the variant and the metric it reads: `{perfect}` is the
test set's key, `{imperfect}` the same set with predicted object masks
(`evaluate.imperfect_masks`), `{m}` the column. Rows without a run show a dash.
"""

from __future__ import annotations

from dataclasses import dataclass

from openparts.evaluation.paper import TABLE1, TABLE2, TABLE3, TABLE4, TABLE5
from openparts.tracking import metric_name


@dataclass(frozen=True)
class Row:
    label: str
    paper: dict[str, float]
    variant: str
    metric: str  # template over {perfect}, {imperfect} and {m}


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


AP = ("AP", "AP50")
MASKS = ("imperfect", "perfect")


def _pair(values: tuple[float, float]) -> dict[str, float]:
    return {"AP": values[0], "AP50": values[1]}


def _table1() -> list[Section]:
    sections = []
    for kind in ("agnostic", "aware"):
        rows = [Row("none", TABLE1[kind]["none"], f"{kind}-3ch", "{perfect}/ablation/none/{m}")]
        rows += [Row(masks, TABLE1[kind][masks], f"{kind}-4ch", f"{{perfect}}/ablation/pre-{masks}/{{m}}") for masks in MASKS]
        sections.append(Section(f"class-{kind}, PartImageNet val", AP, tuple(rows)))
    return sections


def _table2() -> list[Section]:
    sections = []
    for setting, rows in TABLE2.items():
        chosen = [
            Row(row, values, f"{setting}-{3 if row == 'none' or row.startswith('post') else 4}ch", f"{{perfect}}/ablation/{row}/{{m}}")
            for row, values in rows.items()
        ]
        sections.append(Section(setting, AP, tuple(chosen)))
    return sections


def _table3() -> list[Section]:
    sections = []
    for masks in MASKS:
        rows = [Row("base", _pair(TABLE3[masks]["base"]["test"]), "OPS", f"{{{masks}}}/base/{{m}}")]
        rows += [Row(name, _pair(TABLE3[masks][name]["test"]), name, f"{{{masks}}}/model/{{m}}") for name in ("SS", "ST", "OPS")]
        sections.append(Section(f"PartImageNet test, {masks} masks", AP, tuple(rows)))
    return sections


def _table4() -> list[Section]:
    sections = []
    for grouping in ("58", "108"):
        for masks in MASKS:
            paper = {name: _pair(values[f"pascal-part-{grouping}"]) for name, values in TABLE4[masks].items()}
            rows = [Row("base", paper["base"], f"OPS-{grouping}", f"{{{masks}}}/base/{{m}}")]
            rows += [Row(name, paper[name], f"{name}-{grouping}", f"{{{masks}}}/model/{{m}}") for name in ("SS", "ST", "OPS")]
            sections.append(Section(f"Pascal-Part-{grouping} val, {masks} masks", AP, tuple(rows)))
    return sections


def _table5() -> list[Section]:
    sections = []
    for masks in MASKS:
        methods = {"slic": "slic", "ncut": "ncut", "felzenszwalb": "felzenszwalb", "OPS": "model"}
        rows = [Row(label, TABLE5[masks][label], "OPS", f"{{{masks}}}/{method}/{{m}}") for label, method in methods.items()]
        sections.append(Section(f"PartImageNet test, {masks} masks", ("mIoU", "fwIoU", "mACC"), tuple(rows)))
    return sections


TABLES = {
    1: ("Class-agnostic vs class-aware training (AP, AP50)", _table1),
    2: ("Object awareness (AP, AP50)", _table2),
    3: ("Fine-tuning on PartImageNet (AP, AP50)", _table3),
    4: ("Fine-tuning on Pascal-Part (AP, AP50)", _table4),
    5: ("Oracle semantic metrics, classical segmenters vs OPS", _table5),
}


def set_keys(metrics: dict[str, float]) -> dict[str, str]:
    """{"perfect": key, "imperfect": key} of one evaluate run: the test set, and its copy with
    predicted masks, whose key is the set's plus `-<method>`."""
    prefixes = {name.removesuffix("/model/AP") for name in metrics if name.endswith("/model/AP")}
    copies = {p for p in prefixes if any(p.startswith(q + "-") for q in prefixes if q != p)}
    keys = {}
    if len(prefixes - copies) == 1:
        keys["perfect"] = next(iter(prefixes - copies))
        if len(copies) == 1:
            keys["imperfect"] = next(iter(copies))
    return keys


def our_value(row: Row, column: str, runs: dict[str, dict[str, float]]) -> float | None:
    metrics = runs.get(row.variant)
    if metrics is None:
        return None
    keys = set_keys(metrics)
    try:
        name = row.metric.format(m=column, **keys)
    except KeyError:
        return None
    return metrics.get(name, metrics.get(metric_name(name)))


def render(number: int, runs: dict[str, dict[str, float]], run_ids: dict[str, str] | None = None) -> list[str]:
    """Markdown for one table; `runs`: {variant: metrics of its evaluate run}."""
    title, sections = TABLES[number]
    lines = [f"## Table {number}: {title}", "", f"MLflow experiment `openparts-table{number}`; runs: " + _runs_line(runs, run_ids), ""]
    for section in sections():
        header = " | ".join(f"paper {c} | ours {c}" for c in section.columns)
        lines += [f"**{section.title}**", "", f"| row | {header} | our variant |", "|---" * (2 * len(section.columns) + 2) + "|"]
        for row in section.rows:
            cells = []
            for column in section.columns:
                ours = our_value(row, column, runs)
                cells += [f"{row.paper[column]:.2f}", "-" if ours is None else f"{ours:.2f}"]
            lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.variant} |")
        lines.append("")
    return lines


def _runs_line(runs: dict[str, dict[str, float]], run_ids: dict[str, str] | None) -> str:
    if not runs:
        return "none yet (`make experiment NAME=tableN`)"
    return ", ".join(f"{variant} ({(run_ids or {}).get(variant, '')[:8]})" for variant in sorted(runs))


def evaluate_runs(number: int) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """{variant: metrics} and {variant: run id} of the newest finished evaluate run per variant."""
    import mlflow
    from mlflow.tracking import MlflowClient

    experiment = mlflow.get_experiment_by_name(f"openparts-table{number}")
    if experiment is None:
        return {}, {}
    found = MlflowClient().search_runs(
        [experiment.experiment_id],
        "tags.`openparts.stage` = 'evaluate' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    runs: dict[str, dict[str, float]] = {}
    ids: dict[str, str] = {}
    for run in found:
        variant = run.data.tags.get("openparts.variant")
        if variant and variant not in runs:
            runs[variant], ids[variant] = dict(run.data.metrics), run.info.run_id
    return runs, ids


def report(numbers: list[int]) -> str:
    lines: list[str] = ["# The paper's tables and our runs", ""]
    for number in numbers:
        runs, ids = evaluate_runs(number)
        lines += render(number, runs, ids)
    return "\n".join(lines) + "\n"
