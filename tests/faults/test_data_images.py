"""Hostile input images: each is refused in one line that names the file, before anything is written."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .checks import refused, tree_digest


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels, and which holds no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def write_png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def small_workspace(root: Path, classes: tuple[str, ...] = ("a", "b")) -> Path:
    for split in ("train", "test"):
        for c, name in enumerate(classes):
            for i in range(2):
                write_png(root / "data" / split / name / f"{i}.png", 10 * c + i)
    (root / "hni.toml").write_text("[model]\ninput_size = 16\n[train]\nepochs = 1\nbatch_size = 2\n")
    return root


def test_decompression_bomb_is_refused_naming_the_file(tmp_path, capsys):
    ws = small_workspace(tmp_path / "ws")
    bomb = ws / "data" / "train" / "a" / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))
    before = tree_digest(tmp_path)
    line = refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(bomb), "10,000,000,000 pixels")
    assert line.startswith("hni train: error: ")
    assert tree_digest(tmp_path) == before


def test_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, capsys):
    """Between PIL's warning and its error (89M to 179M pixels) PIL would decode it: refused all the same."""
    ws = small_workspace(tmp_path / "ws")
    big = ws / "data" / "test" / "b" / "big.png"
    big.write_bytes(png_header(10_000, 10_000))
    before = tree_digest(tmp_path)
    refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(big), "100,000,000 pixels")
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_image_is_refused_naming_the_file(tmp_path, capsys, keep):
    ws = small_workspace(tmp_path / "ws")
    whole = ws / "data" / "train" / "b" / "cut.png"
    write_png(whole, 99)
    data = whole.read_bytes()
    whole.write_bytes(data[: int(len(data) * keep)])
    before = tree_digest(tmp_path)
    refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(whole))
    assert tree_digest(tmp_path) == before


def test_dangling_symlink_is_refused_naming_it(tmp_path, capsys):
    ws = small_workspace(tmp_path / "ws")
    link = ws / "data" / "train" / "a" / "gone.png"
    os.symlink(tmp_path / "nowhere.png", link)
    before = tree_digest(tmp_path)
    refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(link))
    assert tree_digest(tmp_path) == before


def test_image_deleted_after_listing_is_refused_naming_it(tmp_path, capsys, monkeypatch):
    from hni_engine.data import images

    ws = small_workspace(tmp_path / "ws")
    victim = ws / "data" / "train" / "b" / "1.png"
    scan = images.scan_image_folder

    def scan_then_delete(root):
        found = scan(root)
        if victim.exists():
            victim.unlink()
        return found

    monkeypatch.setattr(images, "scan_image_folder", scan_then_delete)
    refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(victim))
    assert not (ws / "model").exists()


def test_single_class_is_refused_at_train(tmp_path, capsys):
    ws = small_workspace(tmp_path / "ws", classes=("only",))
    before = tree_digest(tmp_path)
    refused(capsys, ["-w", str(ws), "train", "--device", "cpu"], str(ws / "data" / "train"), "'only'", "two")
    assert tree_digest(tmp_path) == before


def test_single_class_is_refused_at_init(tmp_path, capsys):
    data = small_workspace(tmp_path / "user", classes=("only",)) / "data"
    (tmp_path / "model.pt").write_bytes(b"not looked at")
    before = tree_digest(tmp_path)
    target = tmp_path / "new"
    argv = ["init", str(target), "--data", str(data), "--model", str(tmp_path / "model.pt"), "--device", "cpu"]
    refused(capsys, argv, str(data / "train"), "'only'", "two")
    assert tree_digest(tmp_path) == before
    assert not target.exists()
