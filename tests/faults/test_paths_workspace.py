"""Everything a workspace refers to stays inside it: exemplars that lead out are never read (they are dropped
with a warning), runs/HEAD cannot name a folder outside, and no command writes a file of the user's outside
the workspace (`hni train --force` used to overwrite the checkpoint given to `hni init --model`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.store.config import load_config, write_config


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def hostile(ws, tmp_path):
    """A library whose first class's concepts name a file outside: by `..`, by absolute path, by a symlink."""
    secret = tmp_path / "secret.png"
    Image.new("RGB", (64, 64), (255, 0, 255)).save(secret)
    path = ws / "concepts" / "library.json"
    data = json.loads(path.read_text())
    entry = data["classes"][0]
    link = ws / "concepts" / "patches" / entry["name"] / "link.png"
    link.symlink_to(secret)
    depth = "../" * len(path.parent.relative_to(tmp_path).parts)
    names = [f"{depth}secret.png", str(secret), f"patches/{entry['name']}/link.png"]
    for concept, name in zip(entry["pool"], names):
        concept["exemplars"] = [name]
    path.write_text(json.dumps(data, indent=2))
    return entry["name"], secret, names


@pytest.fixture
def opened(monkeypatch):
    """The files Pillow opens during the test, resolved."""
    seen: list[Path] = []
    real = Image.open

    def spy(fp, *args, **kwargs):
        if isinstance(fp, (str, Path)):
            seen.append(Path(fp).resolve())
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    return seen


def _warnings(err: str, names: list[str]) -> list[str]:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "leads outside" in line]
    for name in names:
        assert any(repr(name) in line for line in lines), (name, err)
    return lines


def test_the_report_never_reads_an_exemplar_outside_the_workspace(ws, hostile, opened, tmp_path, capsys):
    _, secret, names = hostile
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    assert secret.resolve() not in opened
    assert len(_warnings(capsys.readouterr().err, names)) == 3
    text = out.read_text()
    assert "leads outside" in text and "secret.png" in text  # the report says what it left out


@pytest.mark.parametrize("pool", [False, True], ids=["scg", "pool"])
def test_show_never_draws_an_exemplar_outside_the_workspace(ws, hostile, opened, tmp_path, pool, capsys):
    cls, secret, names = hostile
    png = tmp_path / "x.png"
    assert main(["-w", str(ws), "show", cls, "--png", str(png), *(["--pool"] if pool else [])]) == 0
    assert secret.resolve() not in opened
    _warnings(capsys.readouterr().err, names)
    assert png.is_file()


def test_head_naming_a_folder_outside_is_refused(ws, tmp_path, capsys):
    (tmp_path / "outside").mkdir()
    (ws / "runs").mkdir(exist_ok=True)
    (ws / "runs" / "HEAD").write_text("../../outside\n")
    cls = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
    assert main(["-w", str(ws), "show", cls]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(ws / "runs" / "HEAD") in err and "not a run id" in err


def test_train_force_never_writes_the_checkpoint_given_to_init(tiny_extracted, tmp_path, capsys):
    mine = tmp_path / "mine" / "resnet.pt"
    mine.parent.mkdir()
    shutil.copy(tiny_extracted / "model" / "base.pt", mine)
    before = _sha(mine)
    ws = tmp_path / "ws"
    data = tiny_extracted / "data"
    assert main(["init", str(ws), "--data", str(data), "--model", str(mine), "--input-size", "64"]) == 0
    assert main(["-w", str(ws), "train", "--force", "--epochs", "1", "--device", "cpu"]) == 0
    assert _sha(mine) == before
    assert not (mine.parent / "resnet.json").exists()
    assert sorted(p.name for p in mine.parent.iterdir()) == ["resnet.pt"]
    assert (ws / "model" / "base.pt").is_file() and _sha(ws / "model" / "base.pt") != before
    assert load_config(ws / "hni.toml").model.checkpoint == "model/base.pt"


def test_train_refuses_a_checkpoint_outside_the_workspace(ws, tmp_path, capsys):
    mine = tmp_path / "mine.pt"
    shutil.copy(ws / "model" / "base.pt", mine)
    before = _sha(mine)
    config = load_config(ws / "hni.toml")
    write_config(
        config.model_copy(update={"model": config.model.model_copy(update={"checkpoint": str(mine)})}), ws / "hni.toml"
    )
    assert main(["-w", str(ws), "train", "--force", "--epochs", "1", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(ws / "hni.toml") in err and str(mine) in err and "outside the workspace" in err
    assert _sha(mine) == before
