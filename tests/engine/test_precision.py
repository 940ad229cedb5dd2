import pytest
import torch

from openparts.engine import precision


def test_auto_precision_takes_bf16_only_where_it_is_native(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.inference_dtype(cpu, "auto") == torch.float32
    assert precision.inference_dtype(cpu, "bf16") == torch.bfloat16 and "emulated" in caplog.text
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.inference_dtype(cpu, "auto") == torch.bfloat16
    assert precision.inference_dtype(cpu, "fp32") == torch.float32
    with pytest.raises(ValueError, match="predict.precision must be one of auto, fp32, bf16"):
        precision.inference_dtype(cpu, "fp16")


@pytest.mark.parametrize("native", [True, False])
def test_training_takes_bf16_autocast_on_a_cpu_only_where_bf16_is_native(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    assert precision.training_autocast(cpu, mixed_precision=True) is native
    assert precision.training_autocast(cpu, mixed_precision=False) is False
