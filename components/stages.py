"""The six components. `BASE_IMAGE` is our image (images/), pinned by digest for releases; it
already holds kfp, so nothing is pip-installed when a pod starts (GPU nodes often have no internet)."""

import os

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

BASE_IMAGE = os.environ.get("OPENPARTS_IMAGE", "ghcr.io/openparts/openparts-cuda:0.1.0")


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def object_masks(data_uri: str, data_hash: str, params: str, out: Output[Dataset]) -> None:
    """Stage 1 on a raw dataset (`data_uri`: a folder, or s3://bucket/prefix fetched first;
    `data_hash` keys KFP's cache to its content)."""
    import json
    import tempfile

    from openparts import storage
    from openparts.stages import run

    with tempfile.TemporaryDirectory(prefix="openparts-data-") as scratch:
        source = data_uri
        if storage.is_s3(data_uri):  # keep the URI's last two names: the set is named as a local folder would be
            source = storage.download(data_uri, "/".join([scratch, *storage.split_uri(data_uri)[1].split("/")[-2:]]))
        run("object_masks", {"data": source}, json.loads(params), out.path)
    out.metadata["content_hash"] = data_hash


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train(data: Input[Dataset], params: str, model: Output[Model]) -> None:
    import json

    from openparts.stages import run

    run("train", {"data": data.path}, json.loads(params), model.path)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def pseudo_labels(model: Input[Model], data: Input[Dataset], params: str, out: Output[Dataset]) -> None:
    import json

    from openparts.stages import run

    run("pseudo_labels", {"model": model.path, "data": data.path}, json.loads(params), out.path)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def cluster_features(model: Input[Model], data: Input[Dataset], params: str, out: Output[Dataset]) -> None:
    import json

    from openparts.stages import run

    run("cluster_features", {"model": model.path, "data": data.path}, json.loads(params), out.path)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def finetune(
    model: Input[Model],
    labeled: Input[Dataset],
    pseudo_labels: Input[Dataset],
    unlabeled: Input[Dataset],
    pseudo_parts: Input[Dataset],
    params: str,
    tuned: Output[Model],
) -> None:
    import json

    from openparts.stages import run

    inputs = {"model": model.path, "labeled": labeled.path, "pseudo_labels": pseudo_labels.path}
    inputs.update(unlabeled=unlabeled.path, pseudo_parts=pseudo_parts.path)
    run("finetune", inputs, json.loads(params), tuned.path)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    base: Input[Model],
    test: Input[Dataset],
    dev: Input[Dataset],
    params: str,
    report: Output[HTML],
    metrics: Output[Metrics],
    summary: Output[Markdown],
    baseline_store: str = "",
) -> None:
    """`baseline_store`: a folder that replaces params' evaluate.baseline_store (the mounted
    claim on a cluster), so that the baselines' parameters and segments outlive the pod."""
    import json
    import os

    from openparts import atomic
    from openparts.stages import run
    from openparts.tracking import metric_name

    inputs = {"model": model.path, "base": base.path, "test": test.path, "dev": dev.path}
    settings = json.loads(params)
    if baseline_store:
        settings.setdefault("evaluate", {})["baseline_store"] = baseline_store
    out = run("evaluate", inputs, settings, report.path + ".folder")
    atomic.copy_file(os.path.join(out, "report.html"), report.path)
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as handle:
        values = json.load(handle)
    rows = ["| metric | value |", "|---|---|"]
    for key, value in sorted(values.items()):
        metrics.log_metric(metric_name(key), float(value))
        rows.append(f"| {key} | {value:.2f} |")
    atomic.write_text(summary.path, "\n".join(rows) + "\n")
