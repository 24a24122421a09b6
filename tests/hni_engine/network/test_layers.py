"""Picking the feature and Grad-CAM layer from the stages' measured map sizes (hni_engine.network.layers)."""

from __future__ import annotations

import doctest
from functools import cache

import pytest
import torch
from torch import nn

from hni_engine.discovery.gradcam import GradCam
from hni_engine.network import layers
from hni_engine.network.layers import LayerMap, layer_warning, measure_maps, pick_layers, stages
from hni_engine.network.models import ModelError, build_model


@cache
def model(arch: str) -> nn.Module:
    """One untrained model per architecture for the whole module (no weights are downloaded)."""
    torch.manual_seed(0)
    return build_model(arch, 2)


def test_resnet18_picks_layer4_at_224():
    choice = pick_layers(model("resnet18"), 224)
    assert (choice.feature_layer, choice.gradcam_layer) == ("layer4", "layer4")
    assert choice.feature_map == choice.gradcam_map == (7, 7)
    assert choice.input_size == 224
    assert choice.reason == "layer4 (7x7 at 224 px): the deepest stage whose map is at least 7x7"


def test_resnet18_at_56_px_picks_layer2_and_says_why():
    choice = pick_layers(model("resnet18"), 56)
    assert (choice.feature_layer, choice.feature_map) == ("layer2", (7, 7))
    assert choice.gradcam_layer == "layer2"
    assert "7x7 at 56 px" in choice.reason


def test_resnet18_at_64_px_picks_layer2_with_an_8x8_map():
    # layer3 is 4x4 there, too small for the default min_side of 7; min_side=4 takes it.
    assert measure_maps(model("resnet18"), 64) == [
        LayerMap("layer1", 64, 16, 16),
        LayerMap("layer2", 128, 8, 8),
        LayerMap("layer3", 256, 4, 4),
        LayerMap("layer4", 512, 2, 2),
    ]
    assert pick_layers(model("resnet18"), 64).reason.startswith("layer2 (8x8 at 64 px)")
    assert pick_layers(model("resnet18"), 64, min_side=4).feature_layer == "layer3"


def test_when_no_stage_is_large_enough_the_largest_map_is_picked_and_the_reason_says_so():
    choice = pick_layers(model("resnet18"), 16)
    assert (choice.feature_layer, choice.feature_map) == ("layer1", (4, 4))
    assert choice.reason == (
        "layer1 (4x4 at 16 px): no stage gives a 7x7 map at this size, so the stage with the largest map"
    )


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("resnet50", "layer4"),
        ("mobilenet_v3_small", "features.12"),
        ("efficientnet_b0", "features.8"),
        ("convnext_tiny", "features.7"),
    ],
)
def test_at_224_px_the_pick_is_the_deepest_stage_of_at_least_7x7(arch, expected):
    net = model(arch)
    maps = measure_maps(net, 224)
    choice = pick_layers(net, 224)
    assert choice.feature_layer == choice.gradcam_layer == expected
    assert choice.feature_layer in dict(net.named_modules())
    names = [m.name for m in maps]
    picked = maps[names.index(expected)]
    assert min(choice.feature_map) == picked.side >= 7
    assert all(m.side < 7 for m in maps[names.index(expected) + 1 :])


def test_stages_are_the_trunks_children():
    assert stages(model("resnet50")) == ["layer1", "layer2", "layer3", "layer4"]
    assert stages(model("mobilenet_v3_small")) == [f"features.{i}" for i in range(13)]
    assert stages(model("efficientnet_b0")) == [f"features.{i}" for i in range(9)]
    assert stages(model("convnext_tiny")) == [f"features.{i}" for i in range(8)]


class _Blocks(nn.Module):
    """A model without a known trunk: its stages are its own children, a ModuleList's items among them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1)) for _ in range(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


def test_a_module_list_contributes_its_items_and_leaves_and_2d_outputs_are_not_stages():
    net = _Blocks()
    assert stages(net) == ["stem", "blocks.0", "blocks.1", "head"]
    assert [str(m) for m in measure_maps(net, 32)] == ["stem (16x16)", "blocks.0 (8x8)", "blocks.1 (4x4)"]
    assert pick_layers(net, 32).feature_layer == "blocks.0"


def test_the_measuring_pass_leaves_no_hook_and_restores_train_and_eval_flags():
    net = _Blocks().train()
    net.stem[1].eval()  # a mixed state must survive
    before = [m.training for m in net.modules()]
    measure_maps(net, 32)
    layer_warning(net, 32, "blocks.1")
    assert [m.training for m in net.modules()] == before
    assert all(not m._forward_hooks for m in net.modules())


def test_a_model_that_cannot_run_at_that_size_is_a_model_error():
    with pytest.raises(ModelError, match="cannot run on a 2 px input"):
        pick_layers(nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 5)), nn.Flatten()), 2)
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        pick_layers(model("resnet18"), 0)


def test_a_layer_with_a_map_under_4x4_draws_a_warning_with_a_fix():
    assert layer_warning(model("resnet18"), 56, "layer4", setting="model.feature_layer") == (
        "model.feature_layer = layer4 gives a 2x2 map at 56 px: Grad-CAM and patch features carry little at "
        "that size; try layer3 (4x4) or a larger --input-size"
    )
    assert layer_warning(model("resnet18"), 224, "layer4") is None
    assert layer_warning(model("resnet18"), 56, "layer3") is None
    message = layer_warning(model("resnet18"), 16, "layer2.0.conv1")  # any module, not only a stage
    assert message is not None and message.startswith("layer2.0.conv1 gives a 2x2 map at 16 px")
    assert message.endswith("try layer1 (4x4) or a larger --input-size")
    message = layer_warning(model("resnet18"), 8, "layer1")
    assert message is not None
    assert message.endswith("no stage gives a 4x4 map at this size; use a larger --input-size")


def test_an_unknown_or_unusable_layer_is_a_model_error_naming_the_stages():
    net = model("resnet18")
    with pytest.raises(ModelError, match=r"unknown layer .*layer4 \(2x2\); did you mean 'layer4'") as info:
        layer_warning(net, 56, "layer5", setting="model.gradcam_layer")
    assert str(info.value).startswith("model.gradcam_layer = 'layer5': unknown layer in ResNet")
    with pytest.raises(ModelError, match=r"fc: outputs a \(1, 2\) tensor, not an \(N, C, H, W\) map"):
        layer_warning(net, 56, "fc")
    with pytest.raises(ModelError, match="runs 2 times per forward pass"):
        layer_warning(net, 56, "layer4.0.relu")  # BasicBlock calls its ReLU twice


@pytest.mark.parametrize(("arch", "why"), [("vit_b_16", "token sequence"), ("swin_t", "channels-last")])
def test_transformers_are_refused_with_the_reason_and_what_to_use(arch, why):
    net = model(arch)
    for call in (lambda: pick_layers(net, 224), lambda: layer_warning(net, 224, "encoder")):
        with pytest.raises(ModelError, match=why) as info:
            call()
        assert "use a CNN architecture" in str(info.value)


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "convnext_tiny"])
def test_grad_cam_works_at_the_picked_layer(arch):
    net = model(arch)
    choice = pick_layers(net, 64)
    assert choice.gradcam_map == (8, 8)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with GradCam(net, choice.gradcam_layer) as cam:
        maps = cam(images, torch.tensor([0, 1]))
        small = cam(images, torch.tensor([0, 1]), upsample=False)
    assert maps.shape == (2, 64, 64) and small.shape == (2, 8, 8)
    assert torch.isfinite(maps).all()
    assert (maps.flatten(1).std(dim=1) > 0.01).all()  # a real map, not a constant one


def test_docstring_examples():
    assert doctest.testmod(layers).failed == 0
