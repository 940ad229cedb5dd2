"""Which float type prediction and training compute in: bf16 only where the hardware has it.

bf16 runs natively on CUDA and on CPUs with AMX or AVX512-BF16, where oneDNN uses it; elsewhere
torch emulates it, 50x slower than fp32 on AVX2 CPUs. So both prediction (`predict.precision`)
and training (`train.mixed_precision`) take bf16 autocast only where it is native.
"""

from __future__ import annotations

import logging

import torch

from openparts.config import check

log = logging.getLogger(__name__)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware; elsewhere it is emulated, and slow (50x on AVX2 CPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def inference_dtype(device: torch.device, precision: str) -> torch.dtype:
    """The autocast dtype of prediction: `auto` takes bf16 only where it is native."""
    check("predict.precision", precision)
    if precision == "fp32" or (precision == "auto" and not native_bf16(device)):
        return torch.float32
    if not native_bf16(device):
        log.warning("predict.precision bf16 on %s, which has no native bf16: it runs emulated and much slower than fp32", device)
    return torch.bfloat16


def training_autocast(device: torch.device, mixed_precision: bool) -> bool:
    """Whether training runs under bf16 autocast: with `train.mixed_precision`, wherever bf16 is
    native, CPUs included. On a 2-core AVX512-BF16 CPU a cpu-preset step on car-parts crops took
    0.72-0.73 s against 1.01-1.05 in fp32 (benchmarks/results/training-bf16-cpu/;
    benchmarks/model_speed.py prints both where it applies)."""
    return mixed_precision and native_bf16(device)
