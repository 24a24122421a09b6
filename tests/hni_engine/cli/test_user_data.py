"""A user's own ImageFolder: class names with spaces, accents and leading digits, no model and no test split.

`init --data` (no model) -> `train` -> `extract` -> `show "fire engine"` -> `check` -> `apply` of a script
that names the classes in quotes; plus the refusals (names that would share concept ids, a test split
given twice) and the split itself (deterministic, per class, the user's folder only read).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.data.split import split_image_folder
from hni_engine.store.config import load_config, write_config

CLASSES = ("fire engine", "café", "2cv")


def _folder(root: Path, classes: tuple[str, ...] = CLASSES, per_class: int = 12, size: int = 64) -> Path:
    """One coloured square per image on noise, a colour per class: learnable in a few epochs."""
    rng = np.random.default_rng(0)
    colours = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (200, 200, 30)]
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((size, size, 3)) * 60).astype(np.uint8)
            x, y = rng.integers(2, size // 2, 2)
            pixels[y : y + size // 3, x : x + size // 3] = colours[c]
            Image.fromarray(pixels).save(folder / f"image {i}.png")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_any_class_name_from_data_alone(tmp_path, make_tiny_config, capsys):
    data = _folder(tmp_path / "photos")
    before = _tree(data)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--data", str(data), "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "no model yet" in out and "next: hni -w" in out and "train" in out
    assert "layer2 (8x8 at 64 px)" in out  # the layer picked for the input size, and why
    split = json.loads((ws / "data" / "split.json").read_text())
    assert split["counts"] == {"train": 30, "test": 6} and split["seed"] == 0
    assert not (ws / "model" / "base.pt").exists()

    # small settings for a test, keeping what init chose for the data and the model
    chosen = load_config(ws / "hni.toml")
    small = make_tiny_config()
    write_config(small.model_copy(update={"model": chosen.model, "data": chosen.data}), ws / "hni.toml")
    w = ["-w", str(ws)]
    assert main([*w, "extract", "--device", "cpu"]) != 0  # no network yet
    assert "train" in capsys.readouterr().err
    assert main([*w, "train", "--device", "cpu"]) == 0
    assert main([*w, "extract", "--device", "cpu"]) == 0
    library = json.loads((ws / "concepts" / "library.json").read_text())
    assert sorted(e["name"] for e in library["classes"]) == sorted(CLASSES)
    ids = {e["name"]: [c["id"] for c in e["pool"]] for e in library["classes"]}
    assert all(i.startswith("fire_engine/") for i in ids["fire engine"])
    assert all(i.startswith("café/") for i in ids["café"]) and all(i.startswith("2cv/") for i in ids["2cv"])
    assert (ws / "concepts" / "patches" / "fire_engine").is_dir()
    capsys.readouterr()

    assert main([*w, "show", "fire engine"]) == 0
    assert "fire_engine/" in capsys.readouterr().out
    script = ws / "edits" / "001_names.hni"
    script.write_text('class "fire engine": drop edges *\nclass "2cv": drop concept 2\n', encoding="utf-8")
    assert main([*w, "check"]) == 0
    assert main(["fmt", "--check", str(script)]) == 0
    assert main([*w, "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["edited_classes"]) == {"fire engine", "2cv"}
    edited = json.loads((run / "library.json").read_text())
    assert next(e for e in edited["classes"] if e["name"] == "fire engine")["graph"]["edges"] == []
    assert _tree(data) == before  # the user's folder was only read


def test_names_that_would_share_concept_ids_are_refused(tmp_path, capsys):
    data = _folder(tmp_path / "photos", ("fire engine", "fire_engine", "bus"), per_class=2, size=16)
    assert main(["init", str(tmp_path / "ws"), "--data", str(data), "--input-size", "32"]) == 1
    err = capsys.readouterr().err
    assert "'fire engine' and 'fire_engine' would share concept ids" in err and str(data) in err
    assert not (tmp_path / "ws").exists()


def test_a_test_split_is_not_made_twice(tmp_path, capsys):
    data = tmp_path / "photos"
    _folder(data / "train", per_class=2, size=16)
    _folder(data / "test", per_class=2, size=16)
    assert main(["init", str(tmp_path / "ws"), "--data", str(data), "--test-fraction", "0.3"]) == 1
    assert "has a test split already" in capsys.readouterr().err and not (tmp_path / "ws").exists()
    for bad in ("0", "1", "nan", "x"):
        with pytest.raises(SystemExit):
            main(["init", str(tmp_path / "ws"), "--data", str(data), "--test-fraction", bad])
        assert "expected a number between 0 and 1" in capsys.readouterr().err


def test_the_split_is_per_class_and_repeatable(tmp_path):
    data = _folder(tmp_path / "photos", per_class=10, size=16)
    first = split_image_folder(data, tmp_path / "a", 0.3, seed=4)
    again = split_image_folder(data, tmp_path / "b", 0.3, seed=4)
    other = split_image_folder(data, tmp_path / "c", 0.3, seed=5)
    assert first["images"] == again["images"] and first["images"] != other["images"]
    for name in CLASSES:
        tested = list((tmp_path / "a" / "test" / name).iterdir())
        trained = list((tmp_path / "a" / "train" / name).iterdir())
        assert (len(tested), len(trained)) == (3, 7)
    assert _tree(tmp_path / "a" / "test") == _tree(tmp_path / "b" / "test")


def test_a_split_places_files_not_links(tmp_path):
    """A symbolic link in the user's folder is placed as the file it leads to: the workspace holds no link
    that could dangle (its target held out on the other side) or lead outside."""
    data = _folder(tmp_path / "photos", per_class=4, size=16)
    outside = tmp_path / "elsewhere.png"
    shutil.copy(data / "café" / "image 0.png", outside)
    (data / "café" / "linked.png").symlink_to(outside)
    (data / "café" / "relative.png").symlink_to("image 1.png")
    split_image_folder(data, tmp_path / "ws", 0.5, seed=0)
    placed = [p for p in (tmp_path / "ws").rglob("*.png")]
    assert len(placed) == 3 * 4 + 2 and not any(p.is_symlink() for p in placed)
    assert all(p.stat().st_size > 0 for p in placed)


def test_data_that_is_not_a_folder_of_images_is_named_for_what_it_is(tmp_path, capsys):
    data = _folder(tmp_path / "photos", per_class=2, size=16)
    assert main(["init", str(data / "ws"), "--data", str(data)]) == 1
    assert "inside the data folder" in capsys.readouterr().err and not (data / "ws").exists()
    assert main(["init", str(tmp_path / "ws"), "--data", str(data / "café" / "image 0.png")]) == 1
    assert "is a file" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "hni.toml").write_text("")
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "other")]) == 1
    assert "is an hni workspace, not a folder of images" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()


def test_a_fraction_that_rounds_away_is_said(tmp_path, capsys):
    data = _folder(tmp_path / "photos", per_class=4, size=16)
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--data", str(data), "--test-fraction", "0.01", "--input-size", "32"]) == 0
    out = capsys.readouterr()
    assert "--test-fraction 0.01: held out" in out.out + out.err and "at least one test" in out.out + out.err
    split = json.loads((ws / "data" / "split.json").read_text())
    assert split["counts"]["test"] == len(CLASSES)  # one per class, as said
