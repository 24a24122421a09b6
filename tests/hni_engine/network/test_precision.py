"""Mixed precision: bf16 on CUDA by default, full precision on the CPU, and the bf16 path (forced on the
CPU here) gives float32 results close to full precision in every pass that uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from hni_dsl.errors import HniError
from hni_engine.discovery.gradcam import GradCam
from hni_engine.network.precision import mixed_precision, precision
from hni_engine.network.training import predict_logits


def test_bf16_on_cuda_only_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HNI_PRECISION", raising=False)
    assert precision("cuda") == precision("cuda:1") == "bf16"
    assert precision("cpu") == "fp32"
    monkeypatch.setenv("HNI_PRECISION", "fp32")
    assert precision("cuda") == "fp32"
    monkeypatch.setenv("HNI_PRECISION", "BF16")
    assert precision("cpu") == "bf16"
    monkeypatch.setenv("HNI_PRECISION", "half")
    with pytest.raises(HniError, match="HNI_PRECISION='half'"):
        precision("cpu")


def test_no_autocast_in_full_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HNI_PRECISION", raising=False)
    with mixed_precision("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("HNI_PRECISION", "bf16")
    with mixed_precision("cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=3).eval()


def test_bf16_logits_are_float32_and_close(monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    model = _model()
    monkeypatch.setenv("HNI_PRECISION", "fp32")
    full = predict_logits(model, images, (0.5,) * 3, (0.25,) * 3)
    monkeypatch.setenv("HNI_PRECISION", "bf16")
    half = predict_logits(model, images, (0.5,) * 3, (0.25,) * 3)
    assert half.dtype == torch.float32
    assert torch.allclose(full, half, atol=0.05 * full.abs().max().item() + 1e-3)


def test_gradcam_under_bf16_is_finite_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model = _model()
    with GradCam(model, "layer3", also="layer4") as cam:
        full = cam.per_class(x, [0, 2])
    monkeypatch.setenv("HNI_PRECISION", "bf16")
    with mixed_precision("cpu"), GradCam(model, "layer3", also="layer4") as cam:
        half = cam.per_class(x, [0, 2])
    maps = half.maps.float()
    assert torch.isfinite(maps).all() and maps.shape == full.maps.shape
    # the same regions light up: the maps correlate strongly even at bf16's 8-bit mantissa
    corr = torch.corrcoef(torch.stack([full.maps.flatten(), maps.flatten()]))[0, 1]
    assert corr > 0.9
