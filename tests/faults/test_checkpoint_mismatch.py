"""A checkpoint of another architecture or with other classes: one line naming the file and what differs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.network.models import save_checkpoint

from .checks import refused, tree_digest

CLASSES = ("a", "b", "c")


def model(arch: str, outputs: int) -> torch.nn.Module:
    return torchvision.models.get_model(arch, weights=None, num_classes=outputs)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Data with classes a, b, c; a workspace on it; and checkpoints that do not fit it, one way each."""
    root = tmp_path_factory.mktemp("checkpoints")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in CLASSES:
            folder = root / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    ws = root / "ws"
    ws.mkdir()
    (ws / "hni.toml").write_text(
        f'[model]\ninput_size = 16\n[data]\ntrain = "{root / "data" / "train"}"\ntest = "{root / "data" / "test"}"\n'
    )
    ckpt = root / "ckpt"
    ckpt.mkdir()
    torch.save(model("squeezenet1_0", 3).state_dict(), ckpt / "squeezenet_state.pt")
    torch.save(model("resnet18", 10).state_dict(), ckpt / "ten_outputs_state.pt")
    save_checkpoint(model("resnet18", 3), "resnet18", ["a", "b", "x"], ckpt / "other_classes.pt")
    save_checkpoint(model("resnet18", 5), "resnet18", ["a", "b", "c", "d", "e"], ckpt / "five_classes.pt")
    save_checkpoint(model("squeezenet1_0", 3), "squeezenet1_0", list(CLASSES), ckpt / "squeezenet_hni.pt")
    torch.save(model("squeezenet1_0", 3), ckpt / "squeezenet_whole.pt")
    torch.save({"state_dict": 5, "classes": list(CLASSES)}, ckpt / "state_not_dict.pt")
    torch.save({"state_dict": {"fc.weight": [1.0]}, "classes": list(CLASSES)}, ckpt / "state_not_tensors.pt")
    torch.save({"state_dict": {}, "classes": 7}, ckpt / "classes_number.pt")
    torch.save({"state_dict": model("resnet18", 3).state_dict(), "classes": "abc"}, ckpt / "classes_text.pt")
    run = root / "ws" / "runs" / "0001"
    run.mkdir(parents=True)
    save_checkpoint(model("resnet18", 3), "resnet18", list(CLASSES), run / "model.pt")
    (run / "classes.json").write_text("{not json")
    return root


CASES = [
    ("squeezenet_state.pt", ["missing", "unexpected", "resnet18"]),
    ("ten_outputs_state.pt", ["10 outputs", "3 classes"]),
    ("other_classes.pt", ["'x'", "'c'"]),
    ("five_classes.pt", ["'d'", "'e'"]),
    ("squeezenet_hni.pt", ["squeezenet1_0", "resnet18"]),
    ("squeezenet_whole.pt", ["SqueezeNet", "resnet18"]),
    ("state_not_dict.pt", ["'state_dict'", "int"]),
    ("state_not_tensors.pt", ["'state_dict'", "fc.weight"]),
    ("classes_number.pt", ["'classes'", "7"]),
    ("classes_text.pt", ["'classes'", "'abc'"]),
]


@pytest.mark.parametrize("name, fragments", CASES)
def test_init_refuses_a_checkpoint_that_does_not_fit(world, tmp_path, capsys, name, fragments):
    path = world / "ckpt" / name
    before = tree_digest(world)
    target = tmp_path / "new"
    argv = ["init", str(target), "--data", str(world / "data"), "--model", str(path), "--device", "cpu"]
    refused(capsys, argv, str(path), *fragments)
    assert not target.exists()
    assert tree_digest(world) == before


@pytest.mark.parametrize("name, fragments", CASES)
def test_eval_refuses_a_checkpoint_that_does_not_fit(world, capsys, name, fragments):
    path = world / "ckpt" / name
    before = tree_digest(world)
    refused(capsys, ["-w", str(world / "ws"), "eval", "--model", str(path), "--device", "cpu"], str(path), *fragments)
    assert tree_digest(world) == before


def test_eval_refuses_a_run_whose_class_list_is_not_json(world, capsys):
    run = world / "ws" / "runs" / "0001"
    before = tree_digest(world)
    refused(
        capsys, ["-w", str(world / "ws"), "eval", "--model", str(run), "--device", "cpu"], str(run / "classes.json")
    )
    assert tree_digest(world) == before


def test_eval_refuses_a_run_whose_class_list_is_not_a_list_of_names(world, capsys):
    run = world / "ws" / "runs" / "0001"
    listed = run / "classes.json"
    text = listed.read_text()
    try:
        listed.write_text(json.dumps({"a": 1}))
        refused(capsys, ["-w", str(world / "ws"), "eval", "--model", str(run), "--device", "cpu"], str(listed))
    finally:
        listed.write_text(text)


def test_init_refuses_an_input_size_other_than_the_checkpoints(world, tmp_path, capsys):
    path = tmp_path / "at64.pt"
    save_checkpoint(
        model("resnet18", 3), "resnet18", list(CLASSES), path, input_size=64, mean=[0.5] * 3, std=[0.25] * 3
    )
    target = tmp_path / "new"
    argv = ["init", str(target), "--data", str(world / "data"), "--model", str(path), "--device", "cpu"]
    refused(capsys, argv, str(path), "64 px", "--input-size is 224", "--input-size 64")
    assert not target.exists()
    assert main([*argv, "--input-size", "64"]) == 0
    written = (target / "hni.toml").read_text()
    assert (
        "input_size = 64" in written and "mean = [0.5, 0.5, 0.5]" in written and "std = [0.25, 0.25, 0.25]" in written
    )


def test_init_refuses_a_checkpoint_recording_a_bad_normalisation(world, tmp_path, capsys):
    path = tmp_path / "nan.pt"
    save_checkpoint(model("resnet18", 3), "resnet18", list(CLASSES), path, mean=[float("nan"), 0.5, 0.5])
    target = tmp_path / "new"
    argv = ["init", str(target), "--data", str(world / "data"), "--model", str(path), "--device", "cpu"]
    refused(capsys, argv, str(path), "'mean", "nan")
    assert not target.exists()


def test_eval_refuses_a_network_trained_at_another_input_size(world, tmp_path, capsys):
    path = tmp_path / "at64.pt"
    save_checkpoint(model("resnet18", 3), "resnet18", list(CLASSES), path, input_size=64)
    before = tree_digest(world)
    argv = ["-w", str(world / "ws"), "eval", "--model", str(path), "--device", "cpu"]
    refused(capsys, argv, str(path), "64 px", "model.input_size is 16")
    assert tree_digest(world) == before
