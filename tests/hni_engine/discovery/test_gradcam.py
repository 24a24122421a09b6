"""Grad-CAM against hand-computed maps on a tiny hand-set model; hook hygiene; layer names; binarize."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from hni_engine.discovery.gradcam import GradCam, binarize, eval_mode, resolve_layer


def tiny_model(stride: int = 1) -> nn.Module:
    """conv (1x1, fixed) -> GAP -> linear (fixed). Channel 0 of the activation is the input's R plane,
    channel 1 its G plane, so logit_c = W[c, 0] * mean(R) + W[c, 1] * mean(G) + b_c and the gradient of
    logit_c at A_k is W[c, k] / (h * w) everywhere: Grad-CAM's channel weights are W[c, :] / (h * w)."""
    conv = nn.Conv2d(3, 2, kernel_size=1, stride=stride, bias=False)
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).view(2, 3, 1, 1))
        fc.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.5], [-1.0, -1.0]]))
        fc.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    return nn.Sequential(OrderedDict(conv=conv, pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=fc))


R = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
G = torch.tensor([[1.0, 1.0], [0.0, 1.0]])


def image() -> torch.Tensor:
    return torch.stack([R, G, torch.full((2, 2), 7.0)])[None]  # (1, 3, 2, 2); B must not matter


def min_max(x: torch.Tensor) -> torch.Tensor:
    return (x - x.min()) / (x.max() - x.min())


def test_matches_hand_computed_map_with_relu():
    model = tiny_model()
    with GradCam(model, "conv") as cam:
        out = cam(image(), torch.tensor([0]))
    # Class 0: weights (1, -2) / 4; R - 2G = [[-1, 0], [3, 2]]; ReLU zeroes the -1; min-max.
    # (Differentiating the softmax instead would give [[0, 0], [1, 0]] here.)
    expected = min_max(F.relu((R - 2 * G) / 4))
    assert out.shape == (1, 2, 2)
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.0], [1.0, 2.0 / 3.0]]))


def test_batch_of_targets_gives_each_images_own_map():
    model = tiny_model()
    images = torch.cat([image(), image().flip(-1)])
    with GradCam(model, "conv") as cam:
        both = cam(images, torch.tensor([1, 0]))
        first = cam(images[:1], torch.tensor([1]))
        second = cam(images[1:], torch.tensor([0]))
    torch.testing.assert_close(both, torch.cat([first, second]))
    torch.testing.assert_close(both[0], min_max((R + G) / 8))  # class 1: weights (0.5, 0.5) / 4


def test_a_map_without_positive_evidence_is_zero():
    # Class 2's weights (-1, -1) on non-negative R and G: negative everywhere before the ReLU.
    model = tiny_model()
    out = GradCam(model, "conv")(image(), torch.tensor([2]))
    assert torch.equal(out, torch.zeros(1, 2, 2))  # all zero stays zero, no NaN


def test_upsampling_is_bilinear_to_the_input_size():
    model = tiny_model(stride=2)
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with GradCam(model, "conv") as cam:
        small = cam(x, torch.tensor([1, 1]), upsample=False)
        full = cam(x, torch.tensor([1, 1]))
    assert small.shape == (2, 2, 2) and full.shape == (2, 4, 4)
    raw = (x[:, 0, ::2, ::2] + x[:, 1, ::2, ::2]) / 8  # (2, 2, 2): the activation of a 1x1 stride-2 conv
    expected = F.interpolate(raw[:, None], size=(4, 4), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(full, torch.stack([min_max(e) for e in expected]))
    assert full.min() >= 0 and full.max() <= 1


def test_model_state_is_left_as_it_was():
    model = tiny_model()
    model.train()
    model.pool.eval()  # a mixed state must survive too
    model.conv.weight.requires_grad_(False)
    GradCam(model, "conv")(image(), torch.tensor([0]))
    assert model.training and model.conv.training and not model.pool.training
    assert not model.conv.weight.requires_grad and model.fc.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_runs_under_no_grad_and_with_a_frozen_model(context):
    model = tiny_model().requires_grad_(False)
    with context():
        out = GradCam(model, "conv")(image(), torch.tensor([0]))
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.0], [1.0, 2.0 / 3.0]]))


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_hooks_removed_on_exit_and_exceptions_propagate():
    model = tiny_model()
    cam = GradCam(model, "conv")
    with cam:
        assert hook_count(model) == 1
        cam(image(), torch.tensor([0]))
    assert hook_count(model) == 0
    with pytest.raises(KeyError, match="inside"):
        with cam:
            raise KeyError("inside")
    assert hook_count(model) == 0
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        with cam:
            cam(image(), torch.tensor([5]))
    assert hook_count(model) == 0
    cam(image(), torch.tensor([0]))  # outside a block: hooked for the call only
    assert hook_count(model) == 0


def test_unknown_layer_names_close_alternatives():
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    with pytest.raises(ValueError, match=r"unknown layer 'layr4' in ResNet; did you mean 'layer4'"):
        GradCam(model, "layr4")
    with pytest.raises(ValueError, match=r"'conv'"):
        resolve_layer(tiny_model(), "cnv")
    with pytest.raises(ValueError, match="top-level layers are 'conv', 'pool', 'flat', 'fc'"):
        resolve_layer(tiny_model(), "zzzzzz")
    assert resolve_layer(model, "layer4.1.conv2") is model.layer4[1].conv2


def test_resnet_maps_have_the_input_size():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    with GradCam(model, "layer4") as cam:
        out = cam(x, torch.tensor([3, 7]))
        again = cam(x, torch.tensor([3, 7]))
    assert out.shape == (2, 64, 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, again)


def test_eval_mode_restores_each_module():
    model = tiny_model().train()
    model.fc.eval()
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, True, True, True, False]


def test_binarize_keeps_exactly_the_top_half():
    values = torch.randperm(64, generator=torch.Generator().manual_seed(1)).float().view(1, 8, 8)
    maps = torch.cat([values, values.flip(-1)])
    kept = binarize(maps, keep=0.5)
    assert kept.dtype == torch.bool and kept.shape == (2, 8, 8)
    assert kept.flatten(1).sum(dim=1).tolist() == [32, 32]
    for m, k in zip(maps, kept):
        assert m[k].min() > m[~k].max()


def test_binarize_ties_are_deterministic():
    kept = binarize(torch.zeros(1, 2, 4), keep=0.25)
    assert kept.tolist() == [[[True, True, False, False], [False, False, False, False]]]
    with pytest.raises(ValueError, match=r"got 0"):
        binarize(torch.zeros(1, 2, 2), keep=0)


def test_per_class_gives_every_class_map_and_the_extra_layers_gradients():
    """Extraction's pass: one forward, a backward per class; raw maps that min-max to __call__'s maps."""
    model = tiny_model()
    images = torch.cat([image(), image().flip(-1)])
    with GradCam(model, "conv", also="conv") as cam:
        result = cam.per_class(images, [0, 2])
        singles = [cam(images, torch.tensor([c, c])) for c in (0, 2)]
    assert result.logits.shape == (2, 3) and result.maps.shape == (2, 2, 2, 2)
    torch.testing.assert_close(result.logits, model(images))
    # Class 0, image 0, by hand: ReLU((R - 2G) / 4), not normalised.
    torch.testing.assert_close(result.maps[0, 0], F.relu((R - 2 * G) / 4))
    for k, single in enumerate(singles):
        for b in range(2):
            raw = result.maps[b, k]
            normalised = min_max(raw) if raw.max() > raw.min() else torch.zeros_like(raw)
            torch.testing.assert_close(normalised, single[b])
    # d logit_c / d A_k summed over the 2x2 map = W[c, k] (the activation is the `also` layer here).
    assert result.also is not None and result.also.shape == (2, 2, 2, 2)
    assert result.also_gradients is not None and result.also_gradients.shape == (2, 2, 2)
    torch.testing.assert_close(result.also_gradients[0], torch.tensor([[1.0, -2.0], [-1.0, -1.0]]))
    assert not any(m._forward_hooks for m in model.modules())  # hooks gone after the block


def test_per_class_without_an_extra_layer_and_outside_a_block():
    model = tiny_model()
    result = GradCam(model, "conv").per_class(image(), [1])
    assert result.also is None and result.also_gradients is None
    torch.testing.assert_close(result.maps[0, 0], F.relu((R + G) / 8))
    assert not any(m._forward_hooks for m in model.modules())
