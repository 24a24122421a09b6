"""Case 4: training that diverges stops, and its network never becomes HEAD (the run is kept, marked failed)."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from hni_engine.cli.app import main
from hni_engine.network.guard import LossGuard, TrainingDiverged
from hni_engine.store.config import load_config, write_config


def test_guard_stops_on_a_non_finite_loss():
    guard = LossGuard("test")
    guard.step(1.0, 1)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(TrainingDiverged, match="loss became"):
            guard.step(bad, 2)


def test_guard_stops_on_non_finite_weights_and_on_divergence():
    guard = LossGuard("test")
    guard.epoch(1.0, [torch.ones(3)])
    with pytest.raises(TrainingDiverged, match="NaN or inf"):
        guard.epoch(1.0, [torch.tensor([1.0, math.nan])])
    guard = LossGuard("test")
    guard.epoch(1.0, [torch.ones(3)])
    guard.epoch(5.0, [torch.ones(3)])  # worse, but within bounds: training may wobble
    with pytest.raises(TrainingDiverged, match="diverged"):
        guard.epoch(50.0, [torch.ones(3)])


def _with_config(ws, section: str, **values) -> None:
    config = load_config(ws / "hni.toml")
    part = getattr(config, section).model_copy(update=values)
    write_config(config.model_copy(update={section: part}), ws / "hni.toml")


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _edge_script(ws) -> None:
    library = json.loads((ws / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if e["graph"]["edges"])
    (ws / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")


def test_a_diverging_distillation_is_kept_as_a_failed_run_and_head_stays(ws, capsys):
    _edge_script(ws)
    _with_config(ws, "distill", lr=1e12)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "distillation" in err and "current network is unchanged" in err and "Traceback" not in err
    assert not (ws / "runs" / "HEAD").exists()
    (run,) = [p for p in (ws / "runs").iterdir() if p.is_dir()]
    failure = json.loads((run / "failed.json").read_text())
    assert failure["status"] == "failed" and failure["stage"] == "distil" and failure["reason"]
    assert not (run / "model.pt").exists() and (run / "plan.txt").is_file()
    # show and report still read the extraction: the failed run is not a state anyone can land on
    assert (
        main(["-w", str(ws), "show", json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]])
        == 0
    )


def test_a_diverging_base_training_writes_no_model(ws, capsys):
    before = (ws / "model" / "base.pt").read_bytes()
    _with_config(ws, "train", lr=1e12, epochs=2)
    assert main(["-w", str(ws), "train", "--force", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "training the network" in err and "Traceback" not in err
    assert (ws / "model" / "base.pt").read_bytes() == before


def test_an_unexpected_failure_is_one_line_and_changes_nothing(ws, capsys, monkeypatch):
    """A bug hni does not know of still ends in one line (HNI_DEBUG=1 shows the traceback), not a run."""
    from hni_engine.edit import pipeline

    _edge_script(ws)

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline, "STAGES", (("load", bug),))
    monkeypatch.delenv("HNI_DEBUG", raising=False)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "Traceback" not in err
    assert not (ws / "runs" / "HEAD").exists()


def test_a_failed_run_is_named_as_failed_when_asked_for(ws, capsys):
    _edge_script(ws)
    _with_config(ws, "distill", lr=1e12)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    (run,) = [p.name for p in (ws / "runs").iterdir() if p.is_dir()]
    capsys.readouterr()
    assert main(["-w", str(ws), "report", "--run", run[:4], "-o", str(ws / "r.html")]) == 1
    err = capsys.readouterr().err
    assert f"run {run} failed at distil" in err and "no network" in err
