"""A checkpoint with more outputs than the data has classes (ImageNet's 1,000): which output each class is,
and the network cut to those outputs, whose logits are exactly the original's for them. No downloads."""

from __future__ import annotations

import doctest
from functools import cache

import pytest
import torch
import torchvision
from torch import nn

from hni_engine.network import heads
from hni_engine.network.heads import final_linear, imagenet_categories, match_outputs, name_key, select_outputs
from hni_engine.network.models import ModelError, build_model, load_checkpoint, read_network, save_checkpoint

# the final nn.Linear of each architecture, as torchvision names it
HEADS = {
    "resnet18": "fc",
    "mobilenet_v3_small": "classifier.3",
    "efficientnet_b0": "classifier.1",
    "convnext_tiny": "classifier.2",
}
PICKED = [555, 1, 281, 999, 0]  # fire engine, goldfish, tabby, toilet tissue, tench: not in output order


@cache
def imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """Random weights of a 1,000-output ``arch`` (seeded), as a plain state dict."""
    torch.manual_seed(0)
    return torchvision.models.get_model(arch, weights=None, num_classes=1000).state_dict()


def imagenet_net(arch: str) -> nn.Module:
    net = torchvision.models.get_model(arch, weights=None, num_classes=1000)
    net.load_state_dict(imagenet_state(arch))
    return net.eval()


@pytest.mark.parametrize("arch", list(HEADS))
def test_cut_network_gives_the_original_logits_of_the_chosen_outputs(arch):
    net = imagenet_net(arch)
    assert final_linear(net)[0] == HEADS[arch]
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = net(x)[:, PICKED]
    cut = select_outputs(net, PICKED, probe_size=32)
    with torch.no_grad():
        after = cut(x)
    assert after.shape == (3, len(PICKED))
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    # the cut network is an ordinary torchvision `arch` with 5 outputs: what every later command loads
    plain = build_model(arch, len(PICKED))
    plain.load_state_dict(cut.state_dict())
    head = plain.get_submodule(HEADS[arch])
    assert isinstance(head, nn.Linear) and head.out_features == len(PICKED)


def test_cut_checkpoint_round_trips_through_save_and_load(tmp_path):
    source = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet_state("resnet18"), source)
    read = read_network(source, "resnet18")
    assert (read.outputs, read.classes, read.extra) == (1000, None, {})
    classes = ["fire engine", "goldfish", "tabby"]
    cut = select_outputs(read.model, [555, 1, 281], probe_size=32)
    save_checkpoint(cut, "resnet18", classes, tmp_path / "base.pt", source={"outputs": 1000, "indices": [555, 1, 281]})
    loaded = load_checkpoint(tmp_path / "base.pt", "resnet18", classes)
    assert loaded.extra["source"] == {"outputs": 1000, "indices": [555, 1, 281]}
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = imagenet_net("resnet18")(x)[:, [555, 1, 281]]
        torch.testing.assert_close(loaded.model(x), expected, rtol=1e-5, atol=1e-5)


def test_read_network_keeps_every_output_and_the_recorded_names(tmp_path):
    save_checkpoint(build_model("resnet18", 4), "resnet18", list("abcd"), tmp_path / "hni.pt", mean=[0.5] * 3)
    read = read_network(tmp_path / "hni.pt", "resnet18")
    assert (read.outputs, read.classes, read.extra["mean"]) == (4, list("abcd"), [0.5] * 3)
    torch.save(build_model("resnet18", 7), tmp_path / "whole.pt")
    assert read_network(tmp_path / "whole.pt", "resnet18").outputs == 7
    with pytest.raises(ModelError, match="names 'resnet34'"):
        read_network(tmp_path / "hni.pt", "resnet34")  # another architecture: refused as before
    with pytest.raises(
        ModelError, match=r"not those of a resnet34 \(the model in the file is a ResNet\): keys 96 missing"
    ):
        read_network(tmp_path / "whole.pt", "resnet34")
    with pytest.raises(ModelError, match="no such checkpoint"):
        read_network(tmp_path / "absent.pt", "resnet18")


def test_a_network_without_a_final_linear_is_refused():
    with pytest.raises(ModelError, match=r"SqueezeNet has no final nn\.Linear"):
        select_outputs(build_model("squeezenet1_0", 1000), [1, 2], probe_size=None, source="sq.pth")


def test_a_last_linear_that_is_not_the_output_layer_is_refused_and_left_in_place():
    # softmax mixes the outputs: cutting the Linear changes the probabilities, and the probe sees it
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10), nn.Softmax(dim=1)).eval()
    with pytest.raises(ModelError, match=r"net\.pt: 1, the last nn.Linear, is not the network's output layer"):
        select_outputs(net, [3, 1], probe_size=4, source="net.pt")
    assert final_linear(net)[1].out_features == 10


def test_imagenet_categories_ship_with_torchvision():
    names = imagenet_categories()
    assert len(names) == 1000 and names[555] == "fire engine" and names[281] == "tabby" and names[1] == "goldfish"
    assert names == torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.mark.parametrize(
    "classes, expected",
    [
        (["fire engine", "goldfish", "tabby"], [555, 1, 281]),
        (["Fire_Engine", "GOLDFISH", "tabby "], [555, 1, 281]),  # case-insensitive, `_` as a space
        (["german-short-haired_pointer"], [210]),  # `-` reads as a space on both sides
        (["Cardigan", "cardigan"], [264, 474]),  # exact names tell the dog from the sweater
    ],
)
def test_classes_named_like_imagenet_categories(classes, expected):
    matches = match_outputs(classes, 1000)
    assert [m.index for m in matches] == expected
    assert {m.by for m in matches} == {"name"}


def test_class_index_wins_over_the_name_and_is_recorded_as_such():
    matches = match_outputs(["fire engine", "goldfish"], 1000, [("fire engine", 7)])
    assert [(m.cls, m.index, m.by, m.name) for m in matches] == [
        ("fire engine", 7, "--class-index", "cock"),
        ("goldfish", 1, "name", "goldfish"),
    ]
    assert matches[0].record() == {"class": "fire engine", "output": 7, "by": "--class-index", "output_name": "cock"}


def test_names_from_the_checkpoints_own_class_list():
    recorded = ["cat", "dog", "fire engine", "horse"]
    assert [m.index for m in match_outputs(["Horse", "cat"], 4, recorded=recorded)] == [3, 0]


@pytest.mark.parametrize(
    "classes, outputs, explicit, fragments",
    [
        (["a", "fire engine"], 1000, [("fire engin", 3)], ["--class-index 'fire engin=3'", "did you mean"]),
        (["fire engine"], 1000, [("fire engine", 1000)], ["--class-index 'fire engine=1000'", "0 to 999"]),
        (["fire engine"], 1000, [("fire engine", -1)], ["--class-index 'fire engine=-1'", "out of range"]),
        (["a", "b"], 10, [("a", 3), ("b", 3)], ["'a=3'", "'b=3'", "share output 3"]),
        (["fire engine", "b"], 1000, [("b", 555)], ["'b=555'", "'fire engine' (by name)", "share output 555"]),
        (["a", "b"], 10, [("a", 1), ("a", 2), ("b", 0)], ["--class-index", "'a' twice", "'a=1'", "'a=2'"]),
        (
            ["fire_engin", "tabby"],
            1000,
            [],
            ["no output for 'fire_engin'", "did you mean output 555 ('fire engine')", "--class-index 'CLASS=INDEX'"],
        ),
        (["CARDIGAN"], 1000, [], ["264 ('Cardigan') or 474 ('cardigan')", "--class-index 'CARDIGAN=INDEX'"]),
        (["a", "b", "c"], 10, [("a", 0)], ["10 outputs", "3 classes", "no output for 'b', 'c'", "no class list"]),
    ],
)
def test_refusals_name_the_flag_and_the_value(classes, outputs, explicit, fragments):
    with pytest.raises(ModelError) as caught:
        match_outputs(classes, outputs, explicit, source="ckpt.pth")
    message = str(caught.value)
    assert message.startswith("ckpt.pth: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ModelError) as caught:
        match_outputs(["a", "b", "c"], 10, [("x", 1), ("a", 10), ("b", 2), ("c", 2)])
    message = str(caught.value)
    assert "'x=1'" in message and "'a=10'" in message and "share output 2" in message


def test_name_key_reads_underscores_and_hyphens_as_spaces():
    assert name_key("  Great_White--Shark ") == "great white shark"


def test_docstring_examples():
    assert doctest.testmod(heads).failed == 0
