"""Each stage records the configuration it ran with; a later command run with values that change how it
must read that stage's output is refused (naming every such key, its value now and then), and one run
with values that only change what it makes is warned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.store.config import load_config
from hni_engine.store.recorded import config_record

from .checks import refused, tree_digest


def copy_of(tiny_extracted: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws, ignore=shutil.ignore_patterns(".hni"))
    return ws


def set_key(ws: Path, old: str, new: str) -> None:
    text = (ws / "hni.toml").read_text()
    assert text.count(old) == 1, old
    (ws / "hni.toml").write_text(text.replace(old, new))


def test_train_and_extract_record_the_configuration_they_ran_with(tiny_extracted):
    config = config_record(load_config(tiny_extracted / "hni.toml"))
    trained = json.loads((tiny_extracted / "model" / "base.json").read_text())
    extracted = json.loads((tiny_extracted / "concepts" / "extract.json").read_text())
    assert trained["config"] == config
    assert extracted["config"] == config


def test_empty_config_after_training_at_another_size_is_refused(tmp_path, capsys):
    """An emptied hni.toml falls back to the defaults: a network trained at 32 px is not read at 64 px."""
    ws = tmp_path / "ws"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("a", "b"):
            folder = ws / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (ws / "hni.toml").write_text("[model]\ninput_size = 32\n[train]\nepochs = 1\nbatch_size = 2\n")
    assert main(["-w", str(ws), "train", "--device", "cpu"]) == 0
    capsys.readouterr()
    (ws / "hni.toml").write_text("")
    before = tree_digest(ws)
    record = str(ws / "model" / "base.json")
    for command in ("extract", "eval"):
        line = refused(
            capsys, ["-w", str(ws), command, "--device", "cpu"], str(ws / "hni.toml"), record, "model.input_size"
        )
        assert "model.input_size is 64 here but was 32" in line
        assert f"an error for `hni {command}`" in line and "`hni train --force`" in line
        assert "model.mean" not in line  # the same as then
    assert tree_digest(ws) == before


def test_apply_refuses_feature_settings_other_than_the_extraction(tiny_extracted, tmp_path, capsys):
    ws = copy_of(tiny_extracted, tmp_path)
    set_key(ws, 'feature_mode = "pool"', 'feature_mode = "crop"')
    set_key(ws, "compactness = 20.0", "compactness = 5.0")
    (ws / "edits" / "a.hni").write_text("class a: drop edges *\n")
    before = tree_digest(ws)
    line = refused(
        capsys,
        ["-w", str(ws), "apply", "--device", "cpu"],
        str(ws / "hni.toml"),
        str(ws / "concepts" / "extract.json"),
        'extract.feature_mode is "crop" here but was "pool"',
        "extract.segment.compactness is 5.0 here but was 20.0",
        "an error for `hni apply`",
        "`hni extract`",
    )
    assert "model.input_size" not in line
    assert tree_digest(ws) == before


def test_a_seed_other_than_the_extraction_is_a_warning(tiny_extracted, tmp_path, capsys):
    ws = copy_of(tiny_extracted, tmp_path)
    set_key(ws, "seed = 0", "seed = 7")
    try:
        main(["-w", str(ws), "apply", "--device", "cpu"])  # no edit scripts: it stops after the checks
    except SystemExit:
        pass
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1, err
    assert "seed is 7 here but was 0" in warning[0] and str(ws / "concepts" / "extract.json") in warning[0]
    assert "goes on" in warning[0]


def test_hni_config_shows_what_differs_from_the_recorded_stages(tiny_extracted, tmp_path, capsys):
    ws = copy_of(tiny_extracted, tmp_path)
    set_key(ws, 'feature_mode = "pool"', 'feature_mode = "crop"')
    set_key(ws, "seed = 0", "seed = 7")
    assert main(["-w", str(ws), "config"]) == 0
    out = capsys.readouterr().out.splitlines()
    report = str(ws / "concepts" / "extract.json")
    assert f'differs from `hni extract` ({report}): extract.feature_mode is "crop" here but was "pool": ' in "\n".join(
        out
    )
    assert any(line.startswith("differs from `hni extract`") and "seed is 7 here but was 0" in line for line in out)
    assert not any("`hni train`" in line for line in out if line.startswith("differs"))
