"""Training and prediction speed of a preset on this machine.

    python benchmarks/model_speed.py --preset cpu --sizes 256 512
    python benchmarks/model_speed.py --data data/demo/train --set model.train_num_points=4096

Prints seconds per training step (batch of the preset; under bf16 autocast where the trainer
takes it, `openparts.engine.precision.training_autocast`, and on such a CPU also in fp32, the
baseline) and images per second of prediction at each size, beside the baseline measured in
the same run: the plain transformers forward pass (fp32, autograd on, one image at a time),
which our Predictor replaces with batched,
inference-mode, channels-last execution in bf16 where the hardware has it natively
(`predict.precision: auto`), with our deformable attention (openparts.model.deformable_attention)
and our decoder's intermediate masks at the attention's size (openparts.model.decoder_masks).
The two alternate `--rounds` times and the median of the rounds' ratios is printed beside each
round's: a ratio from one timing of each moved by a fifth between runs on a shared 2-core machine.
On CUDA it also reports peak GPU memory. On CPU it also prints the fp32 ceiling: the plain
forward's time over the time its convolutions and matrix products alone would take at the best
rates this machine reaches, which bounds what any fp32 optimisation can gain.

Synthetic training batches carry six rectangles per image; real images carry many more parts,
and the matcher and the point-sampled mask losses grow with them. `--data` times the steps on
the preset's own crops of a dataset instead (the trainer's seeded loader, so every variant
passed with `--set` sees the same batches), to A/B training settings on what training sees.
`--profile` runs those steps, and prediction at each size, under torch.profiler and prints where
the time goes: the model's parts (the pixel decoder's deformable attention among them), the loss
and its Hungarian matcher, backward, the optimizer, and the busiest operators.

`--compile` also times our prediction with the network under torch.compile: how much a compiler
would add, and what its compiling costs per input shape.

`--accuracy MODEL DATA` predicts a real dataset with a trained model twice, our way and the
unoptimised way (fp32, channels-first, transformers' deformable attention and decoder mask
prediction), and prints both APs and images/s: the speed-up must not cost more than 0.5 AP.

    python benchmarks/model_speed.py --sizes --accuracy outputs/quality/stages/base/model outputs/quality/data/eval/carparts-test
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers.models.mask2former import modeling_mask2former

from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.data.dataset import PartDataset
from openparts.engine.data import training_loader
from openparts.engine.precision import inference_dtype, native_bf16, training_autocast
from openparts.engine.predict import Predictor
from openparts.engine.supervised import part_class_names, training_datasets
from openparts.engine.trainer import freeze_backbone_batchnorm
from openparts.evaluation.report import score_predictions
from openparts.model import build_model, deformable_attention, input_channels, load_model, unoptimised

log = logging.getLogger("benchmarks.model_speed")


def synthetic_batches(config: dict, in_channels: int, size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, list]]:
    batch = config["train"]["batch_size"]
    inputs = torch.rand(batch, in_channels, size, size, device=device)
    masks = torch.zeros(6, size, size, dtype=torch.bool)
    for index in range(6):
        masks[index, index * size // 8 : (index + 2) * size // 8, size // 4 : 3 * size // 4] = True
    targets = [{"masks": masks, "labels": torch.zeros(6, dtype=torch.long)} for _ in range(batch)]
    while True:
        yield inputs, targets


def dataset_batches(config: dict, data_dir: Path, device: torch.device) -> Iterator[tuple[torch.Tensor, list]]:
    """The trainer's own batches: seeded crops at the preset's crop size."""
    train = config["train"]
    dataset = training_datasets([data_dir], config, part_class_names([data_dir]))
    for inputs, targets in training_loader(dataset, train["batch_size"], train["seed"], 0, num_workers=0):
        yield inputs.to(device), targets


def deformable_attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    layer = modeling_mask2former.Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention  # a rename fails loudly here
    return [module for module in model.modules() if isinstance(module, layer)]


# where the forward time goes, by the modules that compute it (the loss includes the matcher)
REGIONS: dict[str, Callable[[torch.nn.Module], list[torch.nn.Module]]] = {
    "model forward": lambda model: [model.mask2former.model],
    "backbone": lambda model: [model.mask2former.model.pixel_level_module.encoder],
    "pixel decoder": lambda model: [model.mask2former.model.pixel_level_module.decoder],
    "deformable attention": deformable_attention_modules,  # inside the pixel decoder, its projections included
    "transformer decoder": lambda model: [model.mask2former.model.transformer_module],
    "loss, matcher included": lambda model: [model.mask2former.criterion],
    "matcher": lambda model: [model.mask2former.criterion.matcher],
}
STEP_REGIONS = ("forward", "backward", "optimizer")


def label_regions(model: torch.nn.Module) -> None:
    """A profiler range around each region's forward, so that the profile can attribute its time."""
    for name, find in REGIONS.items():
        for module in find(model):
            label(module, name)


def label(module: torch.nn.Module, name: str) -> None:
    ranges: list[torch.profiler.record_function] = []

    def enter(module, args) -> None:
        ranges.append(torch.profiler.record_function(name))
        ranges[-1].__enter__()

    def leave(module, args, output) -> None:
        ranges.pop().__exit__(None, None, None)

    module.register_forward_pre_hook(enter)
    module.register_forward_hook(leave)


def training_step_seconds(
    config: dict,
    batches: Iterator[tuple[torch.Tensor, list]],
    steps: int,
    device: torch.device,
    profiler: torch.profiler.profile | None = None,
    autocast: bool | None = None,
) -> float:
    """Seconds per step, under bf16 autocast as the trainer decides (`training_autocast`) unless
    `autocast` says otherwise."""
    torch.manual_seed(config["train"]["seed"])
    model = build_model(config["model"]).to(device).train()
    if config["model"]["backbone"]["freeze_batchnorm"]:  # as the trainer runs it: no statistics or gradients there
        freeze_backbone_batchnorm(model)
    if profiler is not None:
        label_regions(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    use_amp = training_autocast(device, config["train"]["mixed_precision"]) if autocast is None else autocast
    timings = []
    loaded = [next(batches) for _ in range(steps + 2)]  # loading is outside timing and profile: the trainer's workers overlap it
    for step, (inputs, targets) in enumerate(loaded):
        if profiler is not None and step == 2:  # the first steps warm up allocators and kernels
            profiler.start()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.profiler.record_function("forward"), torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = model(inputs, targets).loss
        with torch.profiler.record_function("backward"):
            optimizer.zero_grad()
            loss.backward()
        with torch.profiler.record_function("optimizer"):
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            timings.append(time.perf_counter() - start)
    if profiler is not None:
        profiler.stop()
    return sum(timings) / len(timings)


def log_fp32_training(
    label: str, config: dict, batches: Callable[[], Iterator[tuple[torch.Tensor, list]]], steps: int, device: torch.device, step: float
) -> None:
    """Where a CPU trains in bf16 autocast, fp32 steps on the same batches: that speed-up's
    baseline, measured in the same run."""
    if device.type != "cpu" or not training_autocast(device, config["train"]["mixed_precision"]):
        return
    fp32_step = training_step_seconds(config, batches(), steps, device, autocast=False)
    log.info("%s: training in fp32 %.2f s/step: bf16 autocast at %.2fx the fp32 speed", label, fp32_step, fp32_step / step)


def profile_summary(profiler: torch.profiler.profile, steps: int, step_seconds: float | None = None, unit: str = "step") -> str:
    """Milliseconds per step (or batch) and share of it for each region, then the busiest operators.
    Without `step_seconds`, shares are of the profiled `prediction` range."""
    events = {event.key: event for event in profiler.key_averages()}
    if step_seconds is None:
        step_seconds = events["prediction"].cpu_time_total / 1e6 / steps
    lines = [f"{'region':<24} {'ms/' + unit:>9} {'share':>7}"]
    for name in (*STEP_REGIONS, "prediction", *REGIONS):
        if name in events:
            milliseconds = events[name].cpu_time_total / 1000 / steps
            lines.append(f"{name:<24} {milliseconds:9.1f} {milliseconds / 10 / step_seconds:6.1f}%")
    table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=48)
    return "\n".join([*lines, "", table])


@dataclass
class PredictionSpeed:
    ours: float  # images/s, median over the rounds
    plain: float  # the plain transformers forward's images/s, median over the rounds
    ratios: list[float]  # ours over the plain forward, round by round
    ceiling: float  # the fp32 ceiling (`fp32_ceiling`); nan on CUDA
    compiled: tuple[float, float] | None  # `compiled_prediction`'s result, with --compile

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def prediction_speed(
    config: dict,
    size: int,
    images: int,
    device: torch.device,
    rounds: int = 3,
    profiler: torch.profiler.profile | None = None,
    compiled: bool = False,
) -> PredictionSpeed:
    """Images/s of our Predictor and of the plain forward (transformers' own deformable attention
    included), the fp32 ceiling: how much faster than the plain forward any fp32 schedule could
    be on this machine (`fp32_ceiling`), and with `compiled` what torch.compile would add
    (`compiled_prediction`).

    The two alternate, `rounds` times: ours, then the plain forward. On a shared 2-core machine
    the plain forward alone moved 3.45-5.03 images/s between runs at 256 px, so one ratio from one
    timing of each was as noisy as that; the median of ratios, each of timings seconds apart, is
    steadier, and the rounds' spread shows how much to trust it."""
    model = build_model(config["model"]).to(device).eval()
    pictures = [torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy() for _ in range(images)]
    objects = [None] * images
    predictor = Predictor(model, {**config["predict"], "shortest_edge": size, "max_size": size}, device)
    batch = config["predict"]["batch_size"]
    predictor.predict_batch(pictures[:batch], objects[:batch])
    ours, plain = [], []
    for _ in range(rounds):
        model.to(memory_format=predictor.memory_format)  # the plain forward leaves it channels-first
        start = time.perf_counter()
        for offset in range(0, images, batch):
            predictor.predict_batch(pictures[offset : offset + batch], objects[offset : offset + batch])
        ours.append(images / (time.perf_counter() - start))
        plain.append(plain_forward_images_per_second(model, size, images, device))
    model.to(memory_format=predictor.memory_format)  # back to our layout for the passes below
    single = torch.rand(1, model.in_channels, size, size, device=device)
    ceiling = fp32_ceiling(model.mask2former, single, 1 / statistics.median(plain)) if device.type == "cpu" else float("nan")
    under_compile = compiled_prediction(predictor, pictures, objects) if compiled else None
    if profiler is not None:  # last: its hooks must not slow the timed runs
        label_regions(model)
        with profiler:
            for offset in range(0, images, batch):
                with torch.profiler.record_function("prediction"):
                    predictor.predict_batch(pictures[offset : offset + batch], objects[offset : offset + batch])
    ratios = [mine / theirs for mine, theirs in zip(ours, plain, strict=True)]
    return PredictionSpeed(statistics.median(ours), statistics.median(plain), ratios, ceiling, under_compile)


def plain_forward_images_per_second(model: torch.nn.Module, size: int, images: int, device: torch.device) -> float:
    """The baseline: transformers' forward as it comes (fp32, channels-first, autograd on, its own
    deformable attention and decoder mask prediction), one image at a time, after a warm-up call."""
    model.to(memory_format=torch.contiguous_format)
    plain = torch.rand(1, model.in_channels, size, size, device=device)
    with unoptimised():
        model.mask2former(pixel_values=plain)
        start = time.perf_counter()
        for _ in range(images):
            model.mask2former(pixel_values=plain)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def compiled_prediction(predictor: Predictor, pictures: list, objects: list) -> tuple[float, float]:
    """Seconds the first call spends compiling, and images/s after it, with the network under
    torch.compile (inductor, weights frozen into the graph). Measured, not shipped: it compiles
    once per input shape, and real images bring a new padded shape in almost every batch."""
    import torch._inductor.config as inductor

    network = predictor.model.mask2former
    predictor.model.mask2former = torch.compile(network, dynamic=False)
    batch = predictor.config["batch_size"]
    try:
        with inductor.patch(freezing=True):
            start = time.perf_counter()
            predictor.predict_batch(pictures[:batch], objects[:batch])
            compiling = time.perf_counter() - start
            start = time.perf_counter()
            for offset in range(0, len(pictures), batch):
                predictor.predict_batch(pictures[offset : offset + batch], objects[offset : offset + batch])
            speed = len(pictures) / (time.perf_counter() - start)
    finally:
        predictor.model.mask2former = network
    return compiling, speed


def prediction_accuracy(config: dict, model_dir: Path, data_dir: Path, device: torch.device) -> dict[str, tuple[float, float]]:
    """(AP, images/s) of our prediction path and of the unoptimised one, on a real model and set."""
    model = load_model(model_dir).to(device)
    dataset = PartDataset.open(data_dir)
    plain_config = {**config["predict"], "precision": "fp32", "channels_last": False}
    results = {}
    for name, predict_config, network in (
        ("ours", config["predict"], contextlib.nullcontext()),
        ("unoptimised", plain_config, unoptimised()),
    ):
        with network:
            predictor = Predictor(model, predict_config, device)
            predictor.predict_batch([dataset.read_image(0)], [dataset.object_mask(0)])  # warm-up: neither pass pays the first call
            start = time.perf_counter()
            predictions = predictor.predict_dataset(dataset)
            seconds = time.perf_counter() - start
        results[name] = (score_predictions(dataset, predictions)["AP"], len(dataset) / seconds)
    return results


def fp32_ceiling(network: torch.nn.Module, pixels: torch.Tensor, plain_seconds: float) -> float:
    """The plain forward's time over the time its convolutions and matrix products alone would
    take at the rates this machine reaches on large ones: no fp32 optimisation that keeps the
    model's arithmetic can be faster than that (the 2x target assumed bf16 hardware)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(pixel_values=pixels)
    flops = {str(op): count for op, count in counter.get_flop_counts()["Global"].items()}
    convolution = sum(count for op, count in flops.items() if "convolution" in op)
    matrix = sum(flops.values()) - convolution
    return plain_seconds / (convolution / convolution_rate() + matrix / matmul_rate())


def matmul_rate() -> float:
    """FLOP/s of a 2048 x 2048 fp32 matrix product, the best case for linear layers."""
    left, right = torch.rand(2048, 2048), torch.rand(2048, 2048)
    return 2 * 2048**3 / best_seconds(lambda: left @ right)


def convolution_rate() -> float:
    """FLOP/s of the model's largest convolution (3x3, 256 channels, at stride 4 of a 512 px batch of 4)."""
    layer = torch.nn.Conv2d(256, 256, 3, padding=1).to(memory_format=torch.channels_last)
    features = torch.rand(4, 256, 128, 128).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return 2 * 4 * 128 * 128 * 256 * 256 * 9 / best_seconds(lambda: layer(features))


def best_seconds(work: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of a few runs after a warm-up: the machine's rate, not its noise."""
    work()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def add_preset_arguments(parser: argparse.ArgumentParser) -> None:
    """--preset, --set and --device, as the speed benchmarks take them."""
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a preset key")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help=chosen_device.__doc__)


def chosen_device(name: str) -> torch.device:
    """auto takes CUDA where there is one; cpu times the CPU, on a GPU machine too."""
    return torch.device(name if name != "auto" else "cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    """The GPU's name, or the processor's model and the instruction set torch's CPU kernels use:
    what a rate depends on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return f"CPU {names[0] if names else 'unknown'} ({torch.backends.cpu.get_cpu_capability()})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="synthetic-batch and prediction sizes (none: skip)")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per size (0: time prediction only)")
    parser.add_argument("--images", type=int, default=8, help="images per timing of each side")
    parser.add_argument(
        "--rounds", type=int, default=3, help="prediction timings of ours and the plain forward, alternating; the median ratio is printed"
    )
    parser.add_argument("--data", type=Path, help="time training steps on this dataset's crops (crop size of the preset)")
    parser.add_argument(
        "--profile", action="store_true", help="where the time goes (torch.profiler): training steps on --data, prediction at each size"
    )
    parser.add_argument(
        "--transformers-attention",
        action="store_true",
        help="train and predict with transformers' own deformable attention: the A/B of openparts.model.deformable_attention",
    )
    parser.add_argument(
        "--accuracy", nargs=2, type=Path, metavar=("MODEL", "DATA"), help="AP and images/s of our prediction vs the unoptimised one"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time prediction under torch.compile (minutes of compilation per size on CPU)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    kept = keep_freed_memory()  # as the openparts command does: both sides of each ratio run with it
    device = chosen_device(args.device)
    config = resolve(args.preset, args.overrides)
    log.info(
        "preset %s on %s (%d threads; native bf16: %s; glibc keeps freed memory: %s)",
        args.preset,
        device_name(device),
        torch.get_num_threads(),
        native_bf16(device),
        kept,
    )
    with deformable_attention.unoptimised() if args.transformers_attention else contextlib.nullcontext():
        measure(args, config, device)
    return 0


def measure(args: argparse.Namespace, config: dict, device: torch.device) -> None:
    """Training steps (on --data, then synthetic batches) and prediction at each size, as main prints them."""
    if args.data:
        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.profile else None
        step = training_step_seconds(config, dataset_batches(config, args.data, device), args.steps, device, profiler)
        if profiler is not None:
            log.info("profile of %d training steps on %s:\n%s", args.steps, args.data, profile_summary(profiler, args.steps, step))
        autocast = training_autocast(device, config["train"]["mixed_precision"])
        log.info(
            "%s: training %.2f s/step on %d px crops (batch %d, %.2f images/s, %s)",
            args.data,
            step,
            config["train"]["crop_size"],
            config["train"]["batch_size"],
            config["train"]["batch_size"] / step,
            "bf16 autocast" if autocast else "fp32",
        )
        if profiler is None:
            log_fp32_training(str(args.data), config, lambda: dataset_batches(config, args.data, device), args.steps, device, step)
    for size in args.sizes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if args.steps:  # --steps 0: prediction alone, to compare prediction settings quickly
            batches = synthetic_batches(config, input_channels(config["model"]), size, device)
            step = training_step_seconds(config, batches, args.steps, device)
            memory = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
            autocast = training_autocast(device, config["train"]["mixed_precision"])
            log.info(
                "%d px: training %.2f s/step (batch %d, %.2f images/s, %s)%s",
                size,
                step,
                config["train"]["batch_size"],
                config["train"]["batch_size"] / step,
                "bf16 autocast" if autocast else "fp32",
                memory,
            )
            log_fp32_training(f"{size} px", config, lambda batches=batches: batches, args.steps, device, step)
        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.profile else None
        speed = prediction_speed(config, size, args.images, device, args.rounds, profiler, args.compile)
        dtype = inference_dtype(device, config["predict"]["precision"])
        bound = (
            f" (fp32 ceiling {speed.ceiling:.2f}x: the plain forward's convolutions and matrix products alone,"
            " at this machine's best rates)"
            if device.type == "cpu"
            else ""
        )
        log.info(
            "%d px: prediction %.2f images/s (%s, channels-last %s); plain transformers forward %.2f images/s; "
            "ratio %.2fx, median of %d rounds (%s)%s",
            size,
            speed.ours,
            str(dtype).removeprefix("torch."),
            config["predict"]["channels_last"],
            speed.plain,
            speed.ratio,
            len(speed.ratios),
            ", ".join(f"{ratio:.2f}" for ratio in speed.ratios),
            bound,
        )
        if speed.compiled is not None:
            compiling, compiled_speed = speed.compiled
            log.info(
                "%d px: prediction under torch.compile %.2f images/s: %.2fx ours, %.2fx the plain forward; first call compiling %.0f s",
                size,
                compiled_speed,
                compiled_speed / speed.ours,
                compiled_speed / speed.plain,
                compiling,
            )
        if profiler is not None:
            batch = config["predict"]["batch_size"]
            batches = -(-args.images // batch)
            summary = profile_summary(profiler, batches, unit="batch")
            log.info("profile of prediction at %d px (%d batches of %d):\n%s", size, batches, batch, summary)
    if args.accuracy:
        results = prediction_accuracy(config, *args.accuracy, device)
        (ap, speed), (plain_ap, plain_speed) = results["ours"], results["unoptimised"]
        log.info(
            "%s on %s: AP %.2f (ours, %.2f images/s) vs %.2f (unoptimised fp32, %.2f images/s): difference %.2f (target: within 0.5), "
            "speed ratio %.2fx",
            args.accuracy[0],
            args.accuracy[1],
            ap,
            speed,
            plain_ap,
            plain_speed,
            ap - plain_ap,
            speed / plain_speed,
        )


if __name__ == "__main__":
    sys.exit(main())
