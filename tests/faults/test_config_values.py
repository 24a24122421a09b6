"""Every number of hni.toml and of a flag is checked: finite, in range, of its own type, before any work."""

from __future__ import annotations

import pytest

from hni_engine.cli.app import main
from hni_engine.cli.language_commands import EXIT_USAGE

from .checks import refused, tree_digest

BAD_VALUES = [
    # not finite
    ("[distill]\nlr = inf\n", "distill.lr", "inf"),
    ("[distill]\nlr = nan\n", "distill.lr", "nan"),
    ("[train]\nlr = -inf\n", "train.lr", "-inf"),
    ("[grn]\nweight_decay = inf\n", "grn.weight_decay", "inf"),
    ("[distill]\nalpha = inf\n", "distill.alpha", "inf"),
    ("[extract.segment]\ncompactness = inf\n", "extract.segment.compactness", "inf"),
    ("[model]\nstd = [inf, 0.2, 0.2]\n", "model.std", "inf"),
    ("[model]\nmean = [nan, 0.5, 0.5]\n", "model.mean", "nan"),
    # out of range
    ("seed = -1\n", "seed", "-1"),
    ("seed = 4294967296\n", "seed", "4294967296"),
    ("[train]\nepochs = 0\n", "train.epochs", "0"),
    ("[grn]\nbatch_size = 0\n", "grn.batch_size", "0"),
    ("[distill]\nmomentum = 1.5\n", "distill.momentum", "1.5"),
    ("[model]\nmean = [0.5, 2.0, 0.5]\n", "model.mean", "2.0"),
    ("[extract.segment]\nn_segments = [0, 50]\n", "extract.segment.n_segments", "0"),
    ("[distill]\nsynthetic_per_class = 10000000000000\n", "distill.synthetic_per_class", "10000000000000"),
    ("[extract]\nclusters = 1000000000\n", "extract.clusters", "1000000000"),
    ("[distill]\nalpha = 0.0\nbeta = 0.0\n", "distill", "alpha and beta are both 0"),
    # a bool or a string where a number belongs: no silent coercion
    ("seed = true\n", "seed", "True"),
    ("[train]\nepochs = true\n", "train.epochs", "True"),
    ('[train]\nepochs = "3"\n', "train.epochs", "'3'"),
    ("[train]\nepochs = 3.0\n", "train.epochs", "3.0"),
    ('[distill]\nlr = "0.1"\n', "distill.lr", "'0.1'"),
    ("[distill]\nlr = false\n", "distill.lr", "False"),
    ("[train]\naugment = 1\n", "train.augment", "1"),
    ("[model]\nmean = [0.5, true, 0.5]\n", "model.mean", "True"),
    # lists of the wrong kind
    ("[extract.segment]\nn_segments = []\n", "extract.segment.n_segments", "[]"),
    ("[extract.segment]\nn_segments = [true]\n", "extract.segment.n_segments", "True"),
    ('[extract.segment]\nn_segments = ["15"]\n', "extract.segment.n_segments", "'15'"),
    ("[extract.segment]\nn_segments = 15\n", "extract.segment.n_segments", "15"),
    ("classes = [1, 2]\n", "classes", "1"),
    ('classes = "ab"\n', "classes", "'ab'"),
    ('classes = ["a", "b", "a"]\n', "classes", "'a'"),
]


@pytest.mark.parametrize("text, key, value", BAD_VALUES)
def test_bad_value_is_refused_with_file_key_and_value(tmp_path, capsys, text, key, value):
    (tmp_path / "hni.toml").write_text(text)
    before = tree_digest(tmp_path)
    line = refused(capsys, ["-w", str(tmp_path), "config"], str(tmp_path / "hni.toml"), f"'{key}", value)
    assert line.startswith("hni config: error: ")
    assert tree_digest(tmp_path) == before


def test_infinite_distillation_rate_stops_train_before_any_work(tmp_path, capsys):
    """`distill.lr = inf` once trained an all-NaN network and made it HEAD: every command now refuses it."""
    (tmp_path / "hni.toml").write_text("[distill]\nlr = inf\n")
    before = tree_digest(tmp_path)
    refused(capsys, ["-w", str(tmp_path), "train", "--device", "cpu"], "hni.toml", "'distill.lr'", "inf")
    refused(capsys, ["-w", str(tmp_path), "apply", "--device", "cpu"], "hni.toml", "'distill.lr'", "inf")
    assert tree_digest(tmp_path) == before


BAD_FLAGS = [
    (["init", "{dir}", "--scenario", "posebias", "--seed", "-1"], "--seed", "-1"),
    (["init", "{dir}", "--scenario", "posebias", "--seed", "18446744073709551616"], "--seed", "18446744073709551616"),
    (["init", "{dir}", "--scenario", "posebias", "--seed", "4294967296"], "--seed", "4294967296"),
    (["demo", "--dir", "{dir}", "--seed", "-5"], "--seed", "-5"),
    (["init", "{dir}", "--scenario", "posebias", "--image-size", "0"], "--image-size", "0"),
    (["init", "{dir}", "--scenario", "posebias", "--image-size", "100000"], "--image-size", "100000"),
    (["init", "{dir}", "--data", "d", "--model", "m.pt", "--input-size", "0"], "--input-size", "0"),
    (["init", "{dir}", "--data", "d", "--model", "m.pt", "--input-size", "nan"], "--input-size", "nan"),
    (["train", "--epochs", "0"], "--epochs", "0"),
    (["train", "--epochs", "-3"], "--epochs", "-3"),
    (["check", "--max-errors", "-1"], "--max-errors", "-1"),
    (["apply", "--max-errors", "-1"], "--max-errors", "-1"),
]


@pytest.mark.parametrize("argv, flag, value", BAD_FLAGS)
def test_bad_flag_is_a_usage_error(tmp_path, capsys, argv, flag, value):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "hni.toml").write_text("")
    before = tree_digest(tmp_path)
    args = ["-w", str(workspace)] + [a.replace("{dir}", str(tmp_path / "new")) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert flag in last and repr(value) in last, err
    assert tree_digest(tmp_path) == before
    assert not (tmp_path / "new").exists()
