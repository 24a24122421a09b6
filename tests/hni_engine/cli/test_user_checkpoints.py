"""`hni init --data PATH --model CKPT` with an ImageNet classifier (1,000 outputs, a plain torchvision state
dict) and a folder of three of its categories: the workspace gets the network cut to those outputs, with
its provenance, and `hni eval` runs on it; every refusal names the flag, the value or the path. Random
weights, 16 px images: nothing is downloaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.store.config import load_config

CLASSES = ("fire engine", "Tabby", "great_white_shark")  # ImageNet's 555, 281 and 2, in three spellings
OUTPUTS = {"Tabby": 281, "fire engine": 555, "great_white_shark": 2}  # the data's class order is sorted


def _images(root: Path, classes: tuple[str, ...]) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    _images(root / "data", CLASSES)
    _images(root / "misnamed", ("fire engin", "tabby", "goldfish"))
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), root / "resnet18-imagenet.pth")
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _init(world: Path, target: Path, *extra: str, data: str = "data") -> int:
    argv = ["init", str(target), "--data", str(world / data), "--model", str(world / "resnet18-imagenet.pth")]
    return main([*argv, "--input-size", "16", "--device", "cpu", *extra])


def test_init_cuts_an_imagenet_checkpoint_to_the_data_classes_and_eval_runs(world, tmp_path, capsys):
    source = world / "resnet18-imagenet.pth"
    before = _digest(source)
    ws = tmp_path / "ws"
    assert _init(world, ws) == 0
    assert "1000 outputs cut to the data's classes: Tabby = 281, fire engine = 555, great_white_shark = 2" in (
        capsys.readouterr().out
    )
    assert _digest(source) == before  # the user's file is only read

    record = json.loads((ws / "model" / "source.json").read_text())
    assert record["file"] == str(source) and record["sha256"] == before and record["outputs"] == 1000
    assert record["classes"] == list(OUTPUTS) and record["indices"] == list(OUTPUTS.values())
    assert [m["by"] for m in record["matched"]] == ["name"] * 3
    assert record["base_sha256"] == _digest(ws / "model" / "base.pt")
    base = torch.load(ws / "model" / "base.pt", weights_only=True)  # an ordinary hni checkpoint
    assert base["classes"] == list(OUTPUTS) and base["arch"] == "resnet18"
    assert {k: v for k, v in record.items() if k != "base_sha256"} == base["source"]

    # the cut network's logits are the checkpoint's for those outputs
    original = torchvision.models.resnet18(weights=None)
    original.load_state_dict(torch.load(source, weights_only=True))
    cut = torchvision.models.resnet18(weights=None, num_classes=3)
    cut.load_state_dict(base["state_dict"])
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(cut.eval()(x), original.eval()(x)[:, list(OUTPUTS.values())])

    # an ImageNet network reads ImageNet-normalised input: hni.toml's default, as torchvision's weights say
    model = load_config(ws / "hni.toml").model
    preset = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    assert list(model.mean) == list(preset.mean) and list(model.std) == list(preset.std)

    assert main(["-w", str(ws), "eval", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "fire engine" in out and "confusion" in out


def test_class_index_wins_over_the_folder_name(world, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert _init(world, ws, "--class-index", "fire engine=7", "--class-index", "Tabby=282") == 0
    record = json.loads((ws / "model" / "source.json").read_text())
    assert record["indices"] == [282, 7, 2]
    assert [m["by"] for m in record["matched"]] == ["--class-index", "--class-index", "name"]


def test_names_that_are_not_categories_are_refused_with_a_suggestion(world, tmp_path, capsys):
    target = tmp_path / "ws"
    assert _init(world, target, data="misnamed") == 1
    err = capsys.readouterr().err
    assert "no output for 'fire engin' (did you mean output 555 ('fire engine')?)" in err
    assert "--class-index 'CLASS=INDEX'" in err and not target.exists()
    assert _init(world, target, "--class-index", "fire engin=555", data="misnamed") == 0


@pytest.mark.parametrize(
    "flags, code, fragments",
    [
        (["--class-index", "fire engine=x"], 3, ["argument --class-index", "'fire engine=x'", "whole number"]),
        (["--class-index", "fire engine"], 3, ["argument --class-index", "CLASS=INDEX", "'fire engine'"]),
        (["--class-index", "fire engine=1000"], 1, ["--class-index 'fire engine=1000'", "0 to 999"]),
        (["--class-index", "fire engin=3"], 1, ["--class-index 'fire engin=3'", "no class 'fire engin'"]),
        (["--class-index", "Tabby=555"], 1, ["'Tabby=555'", "'fire engine' (by name)", "share output 555"]),
    ],
)
def test_bad_class_index_is_refused_naming_the_flag_and_value(world, tmp_path, capsys, flags, code, fragments):
    target = tmp_path / "ws"
    try:
        assert _init(world, target, *flags) == code
    except SystemExit as exc:  # argparse's usage errors
        assert exc.code == code
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not target.exists()


def test_a_missing_weights_file_says_where_it_was_looked_for(world, tmp_path, capsys):
    absent = tmp_path / "weights" / "resnet18-f37072fd.pth"
    argv = ["init", str(tmp_path / "ws"), "--data", str(world / "data"), "--model", str(absent)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{absent}: no such weights file" in err and "put your checkpoint" in err and "never downloads" in err
    assert not (tmp_path / "ws").exists()


def test_a_checkpoint_with_the_data_classes_is_copied_as_before(world, tmp_path):
    own = tmp_path / "three.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), own)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--data", str(world / "data"), "--model", str(own), "--input-size", "16"]) == 0
    assert (ws / "model" / "base.pt").read_bytes() == own.read_bytes()
    assert not (ws / "model" / "source.json").exists()
