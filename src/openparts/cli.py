"""`openparts ...`: the command line. It parses arguments and calls the library; nothing more."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from openparts import __version__

log = logging.getLogger("openparts")


def _data_parser(subparsers: argparse._SubParsersAction) -> None:
    from openparts.data.adapters import SOURCES
    from openparts.data.adapters.pascal_part import DEFAULT_MARGIN, GROUPINGS
    from openparts.data.images import DEFAULT_MAX_PIXELS
    from openparts.data.synth import SPLITS

    data = subparsers.add_parser("data", help="convert, generate, check and look at datasets")
    commands = data.add_subparsers(dest="data_command", required=True)

    convert = commands.add_parser("convert", help="convert a real source into the openparts format")
    convert.add_argument("source_kind", choices=sorted(SOURCES), help="the source's format")
    convert.add_argument("source", help="folder in the source's published layout (or a COCO JSON for 'coco')")
    convert.add_argument("destination", help="output folder (one sub-folder per split for car-parts and partimagenet)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output (only once complete)")
    convert.add_argument("--skip-bad-images", action="store_true", help="skip unreadable images with a count instead of failing")
    convert.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (default: %(default)s)")
    convert.add_argument("--grouping", choices=GROUPINGS, default="raw", help="pascal-part: part names raw, or Pascal-Part-108/58")
    convert.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="pascal-part: crop margin per side (default: %(default)s)")
    convert.add_argument("--images", help="coco: folder holding the images (default: next to the JSON)")

    synth = commands.add_parser("synth", help="generate the demo data that ships with the code")
    synth.add_argument("destination")
    synth.add_argument("--split", choices=sorted(SPLITS), default="seen", help="object categories (default: %(default)s)")
    synth.add_argument("--count", type=int, default=200, help="number of images (default: %(default)s)")
    synth.add_argument("--seed", type=int, default=0, help="random seed; same seed, same images (default: %(default)s)")
    synth.add_argument("--size", type=int, default=256, help="image side in pixels (default: %(default)s)")
    synth.add_argument("--overwrite", action="store_true")

    check = commands.add_parser("validate", help="check everything later stages rely on")
    check.add_argument("root")
    check.add_argument("--allow-missing-object-masks", action="store_true", help="for sets before the object_masks stage")
    check.add_argument("--header-only", action="store_true", help="check image sizes from headers, do not decode pixels")

    info = commands.add_parser("info", help="counts, sizes, parts per object, part-area histogram")
    info.add_argument("root")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")

    subset = commands.add_parser("subset", help="copy images [start, stop) of a dataset, e.g. to split it")
    subset.add_argument("source")
    subset.add_argument("destination")
    subset.add_argument("--start", type=int, default=0)
    subset.add_argument("--stop", type=int, help="one past the last image (default: the end)")
    subset.add_argument("--unlabeled", action="store_true", help="drop the parts: the unlabeled view of these images")
    subset.add_argument("--overwrite", action="store_true")

    pictures = commands.add_parser("import-images", help="plain pictures (the unlabeled drop zone) into an unlabeled dataset")
    pictures.add_argument("folder", help="folder of pictures, searched recursively (hidden and non-picture files are left out)")
    pictures.add_argument("destination")
    pictures.add_argument("--add-to", help="a dataset whose images come first (parts dropped, object masks kept)")
    pictures.add_argument("--name", help="the set's name in metric keys (info.name)")
    pictures.add_argument("--overwrite", action="store_true")

    show = commands.add_parser("show", help="write overlay PNGs of parts and object outline")
    show.add_argument("root")
    show.add_argument("--out", required=True, help="folder for the PNGs")
    show.add_argument("--limit", type=int, default=16, help="number of images (default: %(default)s)")
    show.add_argument("--start", type=int, default=0, help="index of the first image (default: %(default)s)")


def _model_parsers(subparsers: argparse._SubParsersAction) -> None:
    from openparts.config import PRESETS, PSEUDO_LABEL_MASKS

    train = subparsers.add_parser("train", help="train the class-agnostic part segmenter (base model)")
    train.add_argument("--data", action="append", required=True, help="training dataset folder (repeat for several)")
    train.add_argument("--out", required=True, help="model folder to write (checkpoints go to <out>.checkpoints)")
    train.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="configuration preset (default: %(default)s)")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a configuration key, e.g. train.iterations=500"
    )

    labels = subparsers.add_parser("pseudo-labels", help="self-training labels: the model's parts scoring above a threshold")
    labels.add_argument("--model", required=True, help="model folder (the base model)")
    labels.add_argument("--data", required=True, help="unlabeled dataset (images + object masks)")
    labels.add_argument("--out", required=True, help="dataset folder to write")
    labels.add_argument("--score", type=float, help="keep parts scoring above this (default: the preset's finetune.pseudo_label_score)")
    labels.add_argument(
        "--masks",
        choices=PSEUDO_LABEL_MASKS,
        help="each label's own mask, or its disjoint segment of the part map (default: the preset's finetune.pseudo_label_masks)",
    )
    labels.add_argument("--overwrite", action="store_true")

    clusters = subparsers.add_parser("cluster-features", help="pseudo parts: K-means on the model's features inside each object")
    clusters.add_argument("--model", required=True, help="model folder (the base model)")
    clusters.add_argument("--data", required=True, help="unlabeled dataset (images + object masks)")
    clusters.add_argument("--out", required=True, help="pseudo-parts folder to write")
    clusters.add_argument("--k", type=int, help="clusters per object (default: the preset's finetune.k)")
    clusters.add_argument("--seed", type=int, default=0)
    clusters.add_argument("--overwrite", action="store_true")

    tune = subparsers.add_parser("finetune", help="adapt a base model with unlabeled data (SS, ST or both)")
    tune.add_argument("--model", required=True, help="base model folder")
    tune.add_argument("--out", required=True, help="fine-tuned model folder to write")
    tune.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    tune.add_argument("--labeled", action="append", default=[], help="labeled dataset (repeat for several)")
    tune.add_argument("--pseudo-labeled", help="pseudo-labeled dataset (openparts pseudo-labels); needed for st modes")
    tune.add_argument("--unlabeled", help="the unlabeled dataset itself; needed for ss modes and for rounds > 1")
    tune.add_argument("--pseudo-parts", help="pseudo parts (openparts cluster-features); needed for offline clustering")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. finetune.mode=ss or finetune.rounds=2")

    predict = subparsers.add_parser("predict", help="predict parts for a dataset, or for one image and its object mask")
    predict.add_argument("--model", required=True, help="model folder")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="dataset folder: writes COCO results JSON to --out")
    source.add_argument("--image", help="one picture: writes a part overlay PNG to --out")
    predict.add_argument("--object-mask", help="with --data: 'gt' (the dataset's masks, default) or 'none'; with --image: a mask PNG")
    predict.add_argument("--out", required=True)
    predict.add_argument("--post-aware", action="store_true", help="drop part pixels outside the object mask (Sec. 3.2)")
    predict.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a predict.* key")
    predict.add_argument("--device", help="cpu or cuda (default: cuda when available)")

    backbones = subparsers.add_parser(
        "backbones", help="the backbones by name and where their weights come from; --check proves the weights"
    )
    backbones.add_argument("--check", metavar="NAME", help="classify scikit-image's bundled photos with this backbone's ImageNet weights")
    backbones.add_argument("--pretrained", help="with --check: the weights source (default: package where one ships them)")
    backbones.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="with --check: the preset whose ResNet shape to use")
    backbones.set_defaults(func=_run_backbones)


def _stage_parser(subparsers: argparse._SubParsersAction) -> None:
    from openparts.stages import STAGES

    bucket = subparsers.add_parser("storage-check", help="check that an S3 bucket exists and the credentials can list it")
    bucket.add_argument("uri", help="s3://bucket/prefix")
    bucket.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS)")

    stage = subparsers.add_parser("stage", help="run one pipeline stage (what DVC and KFP call)")
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--input", action="append", default=[], metavar="ROLE=PATH", help="an input folder by role (repeat)")
    stage.add_argument("--out", required=True, help="the stage's output folder (written atomically, with manifest.json)")
    stage.add_argument("--params", default="params.yaml", help="params file: preset, overrides, one group per stage")
    stage.add_argument("--metrics", help="also copy the stage's metrics.json here (DVC metrics live outside the stage folder)")

    configs = subparsers.add_parser("stage-configs", help="write what each stage reads of the configuration (DVC keys stages on it)")
    configs.add_argument("--params", default="params.yaml", help="params file: preset, overrides, one group per stage")
    configs.add_argument("--out", default="outputs/configs", help="folder for <stage>.json (default: %(default)s)")

    tracking = subparsers.add_parser("tracking", help="open or close the MLflow parent run of a pipeline run")
    tracking_commands = tracking.add_subparsers(dest="tracking_command", required=True)
    start = tracking_commands.add_parser("start", help="open the parent run; prints its id (nothing when tracking is off)")
    start.add_argument("--name", default="pipeline")
    end = tracking_commands.add_parser("end", help="close the parent run")
    end.add_argument("run_id", nargs="?", default="")
    end.add_argument("--status", default="FINISHED", choices=("FINISHED", "FAILED", "KILLED"))

    metrics = subparsers.add_parser("metrics", help="print a metrics.json as a table: one row per dataset and method")
    metrics.add_argument("file")
    metrics.add_argument("--columns", default="AP,AP50,mIoU,fwIoU,mACC,segments_per_object")


def _evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    from openparts.evaluation.instance_ap import BACKENDS, DEFAULT_BACKEND
    from openparts.objects import METHODS

    evaluate = subparsers.add_parser("evaluate", help="score a model or predictions: metrics.json, overlays, report.html")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model folder: predicts every --data set")
    source.add_argument("--predictions", help="COCO results JSON made elsewhere (one --data set)")
    evaluate.add_argument("--data", action="append", required=True, help="evaluation dataset (repeat for several)")
    evaluate.add_argument("--out", required=True, help="report folder")
    evaluate.add_argument("--dev", help="dev dataset on which the baselines' parameters are chosen (no baselines without it)")
    evaluate.add_argument("--baselines", default="slic,felzenszwalb,ncut", help="comma-separated, or 'none'")
    evaluate.add_argument(
        "--baseline-store", metavar="DIR", help="keep the baselines' parameters and segments here for the next evaluation of these sets"
    )
    evaluate.add_argument("--object-mask", choices=("gt", "none"), default="gt", help="object masks given to the model")
    evaluate.add_argument("--post-aware", action="store_true")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a predict.* key")
    evaluate.add_argument("--coco-backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="COCO AP implementation (default: %(default)s)")

    store = subparsers.add_parser("baseline-store", help="look after a baseline store (evaluate --baseline-store, evaluate.baseline_store)")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    prune = store_commands.add_parser("prune", help="delete the results no evaluation has used for a while (they are made again if needed)")
    prune.add_argument("folder", help="the store's folder, e.g. outputs/baseline_store")
    prune.add_argument("--unused-days", type=float, default=30.0, help="not read or made for this many days (default: %(default)s)")

    ablate = subparsers.add_parser("ablate", help="object-awareness ablation (Table 2): none, post, pre, pre+post")
    ablate.add_argument("--model", action="append", required=True, help="model folder; give a 3- and a 4-channel model to fill every row")
    ablate.add_argument("--data", required=True, help="dataset with its own (perfect) object masks")
    ablate.add_argument("--imperfect-data", help="the same dataset with predicted object masks (openparts object-masks)")
    ablate.add_argument("--out", required=True, help="JSON file for the table")
    ablate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a predict.* key")

    report = subparsers.add_parser("report", help="reports over tracked runs")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    tables = report_commands.add_parser("tables", help="the paper's Tables 1-5 beside our runs (make experiment NAME=tableN)")
    tables.add_argument("--table", type=int, action="append", choices=(1, 2, 3, 4, 5), help="only this table (repeat; default: all)")
    tables.add_argument("--out", help="also write the markdown here")

    objects = subparsers.add_parser("object-masks", help="copy a dataset with object masks predicted by a model")
    objects.add_argument("--data", required=True, help="dataset folder")
    objects.add_argument("--method", required=True, choices=[m for m in METHODS if m != "gt"])
    objects.add_argument("--checkpoint", help="mask2former-coco: local folder or hub name")
    objects.add_argument("--out", required=True, help="dataset folder to write")
    objects.add_argument("--overwrite", action="store_true")


def _run_stage(args: argparse.Namespace) -> int:
    from openparts.stages import run
    from openparts.stages.params import stage_params

    inputs = {}
    for item in args.input:
        role, separator, path = item.partition("=")
        if not separator or not role or not path:
            raise ValueError(f"--input expects ROLE=PATH, got {item!r}")
        inputs[role] = path
    out = run(args.name, inputs, stage_params(args.params, args.name), args.out)
    log.info("stage %s wrote %s", args.name, out)
    if args.metrics:
        from openparts import atomic

        atomic.copy_file(out / "metrics.json", args.metrics)
    return 0


def _run_tracking(args: argparse.Namespace) -> int:
    from openparts import tracking

    if args.tracking_command == "start":
        sys.stdout.write((tracking.start_pipeline_run(args.name) or "") + "\n")
    else:
        tracking.end_pipeline_run(args.run_id, args.status)
    return 0


def _run_report(args: argparse.Namespace) -> int:
    import os

    import mlflow

    from openparts import atomic, tracking
    from openparts.evaluation import tables

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", tracking.DEFAULT_URI))
    text = tables.report(args.table or list(tables.TABLES))
    if args.out:
        atomic.write_text(args.out, text)
    sys.stdout.write(text)
    return 0


def _run_metrics(args: argparse.Namespace) -> int:
    with open(args.file, encoding="utf-8") as handle:
        values = json.load(handle)
    columns = [c for c in args.columns.split(",") if c]
    rows: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        row, _, metric = key.rpartition("/")
        rows.setdefault(row, {})[metric] = value
    width = max([len(r) for r in rows] + [10])
    sys.stdout.write(f"{'dataset/method':<{width}} " + " ".join(f"{c:>10}" for c in columns) + "\n")
    for row in sorted(rows, key=lambda r: (r.split("/")[0], not r.endswith("/model"), r)):
        cells = [f"{rows[row][c]:10.2f}" if c in rows[row] else f"{'':>10}" for c in columns]
        sys.stdout.write(f"{row:<{width}} " + " ".join(cells) + "\n")
    return 0


def _run_ablate(args: argparse.Namespace) -> int:
    from openparts import atomic
    from openparts.data.dataset import PartDataset
    from openparts.evaluation.ablation import object_awareness
    from openparts.evaluation.paper import TABLE2, paper_setting
    from openparts.model import load_model

    models = [load_model(folder) for folder in args.model]
    perfect = PartDataset.open(args.data)
    imperfect = PartDataset.open(args.imperfect_data) if args.imperfect_data else None
    rows = object_awareness(models, perfect, imperfect, _predict_config(models[0], args.set, False))
    atomic.write_json(args.out, rows)
    paper = TABLE2.get(paper_setting(perfect.info) or "", {})
    sys.stdout.write(f"{'setting':<20} {'AP':>7} {'AP50':>7}   {'paper AP':>8} {'AP50':>7}\n")
    for name, metrics in rows.items():
        published = paper.get(name)
        tail = f"   {published['AP']:8.2f} {published['AP50']:7.2f}" if published else ""
        sys.stdout.write(f"{name:<20} {metrics['AP']:7.2f} {metrics['AP50']:7.2f}{tail}\n")
    return 0


def _run_object_masks(args: argparse.Namespace) -> int:
    from openparts.objects import make_masker
    from openparts.objects.apply import write_with_object_masks

    write_with_object_masks(args.data, args.out, make_masker(args.method, args.checkpoint), args.method, overwrite=args.overwrite)
    log.info("wrote %s", args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openparts", description=__doc__)
    parser.add_argument("--version", action="version", version=f"openparts {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _data_parser(subparsers)
    _model_parsers(subparsers)
    _evaluate_parser(subparsers)
    _stage_parser(subparsers)
    return parser


def _run_data(args: argparse.Namespace) -> int:
    if args.data_command == "convert":
        from openparts.data.adapters import convert

        options = {"overwrite": args.overwrite, "skip_bad_images": args.skip_bad_images, "max_pixels": args.max_pixels}
        if args.source_kind == "pascal-part":
            options.update(grouping=args.grouping, margin=args.margin)
        if args.source_kind == "coco" and args.images:
            options["images"] = args.images
        for folder in convert(args.source_kind, args.source, args.destination, **options):
            log.info("wrote %s", folder)
    elif args.data_command == "synth":
        from openparts.data.synth import generate

        log.info("wrote %s", generate(args.destination, args.count, args.split, args.seed, args.size, args.overwrite))
    elif args.data_command == "validate":
        from openparts.data.validate import validate

        report = validate(
            args.root,
            require_object_masks=not args.allow_missing_object_masks,
            decode_images=not args.header_only,
            progress=True,
        )
        sys.stdout.write(f"{args.root}: valid, {report.images} images, {report.parts} parts\n")
    elif args.data_command == "info":
        from openparts.data.inspect import dataset_info, format_info

        details = dataset_info(args.root)
        sys.stdout.write((json.dumps(details, indent=2) if args.json else format_info(details)) + "\n")
    elif args.data_command == "subset":
        from openparts.data.dataset import PartDataset
        from openparts.data.subset import write_subset

        stop = args.stop if args.stop is not None else len(PartDataset.open(args.source))
        labeled = False if args.unlabeled else None
        log.info("wrote %s", write_subset(args.source, args.destination, range(args.start, stop), labeled, args.overwrite))
    elif args.data_command == "import-images":
        from openparts.data.import_images import import_images

        import_images(args.folder, args.destination, add_to=args.add_to, name=args.name, overwrite=args.overwrite)
    elif args.data_command == "show":
        from openparts.data.inspect import show

        show(args.root, args.out, limit=args.limit, start=args.start)
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from openparts.config import resolve
    from openparts.engine.supervised import train_supervised

    config = resolve(args.preset, args.set)
    result = train_supervised(args.data, args.out, config)
    log.info("model written to %s (%d steps, %.0f s)", result.model_dir, result.steps, result.seconds)
    return 0


def _run_backbones(args: argparse.Namespace) -> int:
    import importlib.util

    from openparts.config import resolve
    from openparts.model.backbones import BACKBONES, PACKAGE_SOURCE
    from openparts.model.imagenet import check_photos

    if not args.check:
        sys.stdout.write(f"{'name':20} {'features (strides 4-32)':26} {'normalisation (mean / std)':30} pretrained weights\n")
        for backbone in BACKBONES.values():
            channels = "/".join(map(str, backbone.channels)) if backbone.channels else "hidden_sizes"
            statistics = f"{backbone.mean[0]:.3f}.. / {backbone.std[0]:.3f}.."
            if backbone.bundled:
                installed = "installed" if importlib.util.find_spec(backbone.bundled.module) else "not installed"
                weights = f"package: {backbone.bundled.distribution} ({installed})"
            else:
                weights = "a file or hub name, e.g. microsoft/resnet-50"
            sys.stdout.write(f"{backbone.name:20} {channels:26} {statistics:30} {weights}\n")
        return 0
    if args.check not in BACKBONES:
        raise ValueError(f"unknown backbone {args.check!r}; valid names: {', '.join(BACKBONES)}")
    source = args.pretrained or (PACKAGE_SOURCE if BACKBONES[args.check].bundled else None)
    if source is None:
        raise ValueError(f"--check {args.check}: name the weights with --pretrained (no package ships them)")
    overrides = [f"model.backbone.name={args.check}", f"model.backbone.pretrained={source}"]
    results = check_photos(resolve(args.preset, overrides)["model"]["backbone"])
    for photo, (ranked, right) in results.items():
        classes = ", ".join(f"{label.split(',')[0]} {probability:.2f}" for label, probability in ranked)
        sys.stdout.write(f"{photo:8} {'ok   ' if right else 'WRONG'} {classes}\n")
    return 0 if all(right for _, right in results.values()) else 1


def _preset_of(model) -> dict:
    from openparts.config import preset

    return preset(model.description.get("config", {}).get("preset", "cpu"))


def _run_pseudo_labels(args: argparse.Namespace) -> int:
    from openparts.engine.unlabeled import generate_pseudo_labels
    from openparts.model import load_model

    model = load_model(args.model)
    section = _preset_of(model)["finetune"]
    score = args.score if args.score is not None else section["pseudo_label_score"]
    masks = args.masks or section["pseudo_label_masks"]
    generate_pseudo_labels(model, args.data, args.out, _predict_config(model, [], False), score, overwrite=args.overwrite, masks=masks)
    return 0


def _run_cluster_features(args: argparse.Namespace) -> int:
    from openparts.engine.unlabeled import cluster_features
    from openparts.model import load_model

    model = load_model(args.model)
    k = args.k if args.k is not None else _preset_of(model)["finetune"]["k"]
    cluster_features(model, args.data, args.out, _predict_config(model, [], False), k, args.seed, overwrite=args.overwrite)
    log.info("wrote %s", args.out)
    return 0


def _run_finetune(args: argparse.Namespace) -> int:
    from openparts.config import resolve
    from openparts.engine.finetune import self_training_rounds

    config = resolve(args.preset, args.set)
    if not args.labeled and not args.pseudo_labeled:
        raise ValueError("give --labeled and/or --pseudo-labeled data for the supervised loss")
    result = self_training_rounds(args.model, args.out, config, args.labeled, args.unlabeled, args.pseudo_labeled, args.pseudo_parts)
    log.info("fine-tuned model written to %s (%d steps, %.0f s)", result.model_dir, result.steps, result.seconds)
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from openparts import atomic
    from openparts.data.dataset import PartDataset
    from openparts.engine.predict import Predictor
    from openparts.model import load_model

    model = load_model(args.model)
    predict_config = _predict_config(model, args.set, args.post_aware)
    predictor = Predictor(model, predict_config, args.device)
    if args.data:
        dataset = PartDataset.open(args.data)
        use_masks = (args.object_mask or "gt") == "gt"
        results = predictor.predict_dataset(dataset, use_object_masks=use_masks)
        atomic.write_json(args.out, results, indent=None)
        log.info("wrote %d predicted parts for %d images to %s", len(results), len(dataset), args.out)
        return 0
    from openparts.engine.interactive import predict_picture

    count = predict_picture(predictor, args.image, args.object_mask, args.out)
    log.info("wrote %s with %d parts", args.out, count)
    return 0


def _predict_config(model, overrides: list[str], post_aware: bool) -> dict:
    """The model's saved prediction settings over its preset's current ones: a model saved
    before a setting existed gets that setting's default, and `--set` can change it; a test
    size left null is the crop the model trained on."""
    from openparts.config import apply_overrides, at_training_scale

    saved, preset = model.description.get("config", {}), _preset_of(model)
    predict_config = {**preset["predict"], **(saved.get("predict") or {})}
    items = [item if item.startswith("predict.") else f"predict.{item}" for item in overrides]
    predict_config = apply_overrides({"predict": predict_config}, items)["predict"]
    predict_config["post_aware"] = predict_config["post_aware"] or post_aware
    return at_training_scale(predict_config, (saved.get("train") or preset["train"])["crop_size"])


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    from openparts.data.dataset import PartDataset, dataset_key
    from openparts.evaluation.baseline_store import BaselineStore
    from openparts.evaluation.report import write_report

    datasets = [PartDataset.open(root) for root in args.data]
    if args.predictions:
        if len(datasets) != 1:
            raise ValueError("--predictions scores exactly one --data set")
        with open(args.predictions, encoding="utf-8") as handle:
            predictions = {dataset_key(datasets[0]): json.load(handle)}
        method = "predictions"
    else:
        from openparts.engine.predict import Predictor
        from openparts.model import load_model

        model = load_model(args.model)
        predictor = Predictor(model, _predict_config(model, args.set, args.post_aware))
        predictions = {
            dataset_key(dataset): predictor.predict_dataset(dataset, use_object_masks=args.object_mask == "gt")
            for root, dataset in zip(args.data, datasets, strict=True)
        }
        method = "model"
    methods = () if args.baselines == "none" or not args.dev else tuple(m for m in args.baselines.split(",") if m)
    if not args.dev and args.baselines != "none":
        log.info("no --dev set: baselines skipped (their parameters must not be chosen on test data)")
    dev = PartDataset.open(args.dev) if args.dev else None
    store = BaselineStore(args.baseline_store)
    metrics = write_report(args.out, datasets, predictions, method, methods, dev, coco_backend=args.coco_backend, store=store)
    for key in sorted(metrics):
        if key.endswith(("/AP", "/AP50", "/mIoU")):
            sys.stdout.write(f"{key:<48} {metrics[key]:8.2f}\n")
    return 0


def _run_baseline_store(args: argparse.Namespace) -> int:
    from openparts.evaluation.baseline_store import prune

    removed, freed = prune(args.folder, args.unused_days)
    sys.stdout.write(f"{args.folder}: removed {len(removed)} result(s) unused for {args.unused_days:g} days, {freed / 1e6:.1f} MB\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from openparts import cpus, storage
    from openparts.data.errors import DataError, InvalidDatasetError

    cpus.keep_freed_memory()

    try:
        if hasattr(args, "func"):
            return args.func(args)
        if args.command == "data":
            return _run_data(args)
        if args.command == "train":
            return _run_train(args)
        if args.command == "predict":
            return _run_predict(args)
        if args.command == "evaluate":
            return _run_evaluate(args)
        if args.command == "pseudo-labels":
            return _run_pseudo_labels(args)
        if args.command == "cluster-features":
            return _run_cluster_features(args)
        if args.command == "finetune":
            return _run_finetune(args)
        if args.command == "stage":
            return _run_stage(args)
        if args.command == "stage-configs":
            from openparts.stages.params import write_stage_configs

            for path in write_stage_configs(args.params, args.out):
                log.info("wrote %s", path)
            return 0
        if args.command == "tracking":
            return _run_tracking(args)
        if args.command == "metrics":
            return _run_metrics(args)
        if args.command == "baseline-store":
            return _run_baseline_store(args)
        if args.command == "ablate":
            return _run_ablate(args)
        if args.command == "report":
            return _run_report(args)
        if args.command == "object-masks":
            return _run_object_masks(args)
        if args.command == "storage-check":
            storage.check(args.uri, args.endpoint_url)
            sys.stdout.write(f"{args.uri}: bucket reachable\n")
            return 0
    except (DataError, InvalidDatasetError, FileExistsError, FileNotFoundError, ValueError, storage.StorageError) as error:
        # CheckpointError and ConfigError are ValueErrors that name the file or key
        log.error("%s", error)
        return 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
