import pytest

from openparts.config import PRESETS, ConfigError, check, flat_keys, resolve
from openparts.engine.predict import resized_shape


def test_presets_share_the_official_loss_weights() -> None:
    for name in ("cpu", "paper"):
        model = PRESETS[name]["model"]
        assert (model["class_weight"], model["mask_weight"], model["dice_weight"]) == (2.0, 5.0, 5.0)
        assert (model["oversample_ratio"], model["importance_sample_ratio"]) == (3.0, 0.75)
        assert model["auxiliary_loss"] is True
    assert PRESETS["paper"]["model"]["train_num_points"] == 12544  # the official 112 x 112
    # the cpu preset samples as many points as its crops have mask logits (1/4 scale), not three times as many
    assert PRESETS["cpu"]["model"]["train_num_points"] == (PRESETS["cpu"]["train"]["crop_size"] // 4) ** 2


def test_cpu_preset_predicts_at_the_scale_its_training_jitter_centres_on() -> None:
    """Training fits each image into the crop (then jitters 0.5-1.5x); predicting a tall person at
    its shortest edge alone showed it larger than the model learnt parts at."""
    for overrides in ([], ["train.crop_size=384"]):
        cpu = resolve("cpu", overrides)
        crop, predict = cpu["train"]["crop_size"], cpu["predict"]
        assert sum(cpu["train"]["scale_range"]) / 2 == 1.0
        for height, width in ((512, 512), (500, 250), (229, 1600), (40, 90)):
            shape = resized_shape(height, width, predict["shortest_edge"], predict["max_size"])
            assert max(shape) == crop, (overrides, height, width, shape)


def test_a_test_size_set_by_hand_is_kept_and_null_takes_the_crop() -> None:
    predict = resolve("cpu", ["predict.shortest_edge=320", "predict.max_size=800"])["predict"]
    assert (predict["shortest_edge"], predict["max_size"]) == (320, 800)
    paper = resolve("paper", ["predict.max_size=null"])
    assert (paper["predict"]["shortest_edge"], paper["predict"]["max_size"]) == (400, paper["train"]["crop_size"])


def test_paper_preset_follows_section_4_2() -> None:
    paper = resolve("paper")
    assert paper["model"]["backbone"]["depths"] == [3, 4, 6, 3]  # ResNet-50
    assert paper["train"]["crop_size"] == 512 and paper["train"]["scale_range"] == [0.1, 2.0]
    assert paper["train"]["batch_size"] == 16 and paper["train"]["iterations"] == 90000
    assert paper["train"]["lr_decay_at"] == pytest.approx([60000 / 90000, 80000 / 90000], abs=1e-4)
    finetune = paper["finetune"]
    assert (finetune["learning_rate"], finetune["pseudo_label_score"], finetune["k"]) == (1.0e-6, 0.1, 10)
    assert (finetune["lambda_contrast"], finetune["lambda_affinity"], finetune["tau_contrast"], finetune["tau_affinity"]) == (
        10.0,
        0.5,
        1.0,
        1.0,
    )
    assert finetune["pseudo_label_masks"] == "instances"  # the predictions themselves


def test_overrides_parse_values_as_yaml_and_keep_types() -> None:
    config = resolve("tiny", ["train.iterations=12", "model.backbone.depths=[2, 2, 2, 2]", "train.learning_rate=2e-4"])
    assert config["train"]["iterations"] == 12
    assert config["model"]["backbone"]["depths"] == [2, 2, 2, 2]
    assert config["train"]["learning_rate"] == 2e-4


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid presets: cpu, paper, tiny"):
        resolve("gpu")


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'train.iters'; valid keys: .*train.iterations"):
        resolve("cpu", ["train.iters=5"])


def test_wrong_type_and_malformed_override_are_rejected() -> None:
    with pytest.raises(ConfigError, match="train.iterations must be of type int"):
        resolve("cpu", ["train.iterations=many"])
    with pytest.raises(ConfigError, match="is not key=value"):
        resolve("cpu", ["train.iterations"])


def test_every_preset_has_the_same_keys() -> None:
    keys = {name: set(flat_keys(config)) for name, config in PRESETS.items()}
    assert keys["tiny"] == keys["cpu"] == keys["paper"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.batch_size=0", "train.batch_size must be a whole number of at least 1, got 0"),
        ("train.learning_rate=0", "train.learning_rate must be above 0"),
        ("predict.score_threshold=1.5", "predict.score_threshold must be a number from 0 to 1, got 1.5"),
        ("finetune.pseudo_label_score=-0.1", "finetune.pseudo_label_score must be a number from 0 to 1"),
        ("finetune.mode=both", "finetune.mode must be one of ss, st, ss\\+st, got 'both'"),
        ("predict.precision=fp16", "predict.precision must be one of auto, fp32, bf16"),
        ("model.backbone.layer_type=dense", "model.backbone.layer_type must be one of basic, bottleneck"),
        ("model.backbone.depths=[2, 2, 2]", "model.backbone.depths must list 4 whole numbers"),
        ("model.backbone.hidden_sizes=[64, 128, 0, 512]", "model.backbone.hidden_sizes must list 4 whole numbers"),
        ("model.backbone.pretrained=''", "model.backbone.pretrained must be null \\(random initialisation\\), package"),
        ("train.scale_range=[1.5, 0.5]", "train.scale_range must be \\[smallest, largest\\] scale"),
        ("train.object_mask_jitter=1.5", "train.object_mask_jitter must be a number from 0 to 1, got 1.5"),
        ("train.lr_decay_at=[0.9, 0.5]", "train.lr_decay_at must list shares of training"),
        ("train.lr_decay_at=[0.5, 1.2]", "train.lr_decay_at must list shares of training"),
        ("predict.split_min_fraction='0.1'", "predict.split_min_fraction must be null \\(off\\) or a number from 0 to 1"),
        ("finetune.rounds=0", "finetune.rounds must be a whole number of at least 1"),
        ("predict.max_size=16", "predict.max_size must be null \\(train.crop_size\\) or a whole number of at least 32, got 16"),
        ("predict.shortest_edge='256'", "predict.shortest_edge must be null \\(train.crop_size\\) or a whole number"),
        ("model.num_attention_heads=3", "model.num_attention_heads 3 must divide model.hidden_dim 256"),
    ],
)
def test_values_outside_their_range_are_refused_with_the_key_named(override: str, message: str) -> None:
    """A wrong value must stop the run where the configuration is read, not in the stage that uses it."""
    with pytest.raises(ConfigError, match=message):
        resolve("cpu", [override])


def test_values_at_the_edges_of_their_ranges_are_kept() -> None:
    config = resolve(
        "cpu",
        [
            "finetune.iterations=0",  # Tables 1 and 2: the base model unchanged
            "predict.split_min_fraction=0",
            "predict.score_threshold=1",
            "train.lr_decay_at=[]",
            "train.threads=0",
            "model.backbone.pretrained=weights/resnet18.pt",
        ],
    )
    assert config["finetune"]["iterations"] == 0 and config["predict"]["split_min_fraction"] == 0
    assert config["train"]["lr_decay_at"] == [] and config["model"]["backbone"]["pretrained"] == "weights/resnet18.pt"


@pytest.mark.parametrize("value", [1.5, -0.1, "0.1", True])
def test_a_bad_split_fraction_from_a_hand_made_mapping_is_refused_with_its_key(value) -> None:
    """The predictor takes its settings as given (a benchmark's dict, not only `resolve`'s)."""
    with pytest.raises(ConfigError, match="predict.split_min_fraction must be null \\(off\\)"):
        check("predict.split_min_fraction", value)
    assert check("predict.split_min_fraction", None) is None and check("predict.split_min_fraction", 0) == 0


def test_check_refuses_a_bad_value_from_a_hand_made_mapping() -> None:
    assert check("finetune.k", 10) == 10
    assert check("train.seed", -3) == -3  # no rule: any whole number seeds
    with pytest.raises(ConfigError, match="finetune.k must be a whole number of at least 1, got 0"):
        check("finetune.k", 0)
    with pytest.raises(ConfigError, match="predict.top_k must be a whole number of at least 1, got '4'"):
        check("predict.top_k", "4")  # a hand-made mapping is not type-checked by resolve
    with pytest.raises(ConfigError, match="predict.score_threshold must be a number from 0 to 1, got None"):
        check("predict.score_threshold", None)
