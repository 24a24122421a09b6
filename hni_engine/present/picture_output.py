"""A drawn picture and its layout (what :mod:`hni_engine.present.pictures` returns), and writing it as a PNG file.

Pillow only, no torch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from hni_dsl.fileio import InputFileError, atomic_write_bytes
from hni_engine.store.preflight import check_output_file

__all__ = ["Picture", "Placed", "check_output", "write_png"]


@dataclass(frozen=True)
class Placed:
    """Where one numbered concept was drawn: slot (or pool rank), concept id, pixel box (x0, y0, x1, y1)."""

    number: int
    concept_id: str
    box: tuple[int, int, int, int]
    panel: int = 0


@dataclass
class Picture:
    """A drawn image and its layout: what a test checks against the library and the text output."""

    image: Image.Image
    layout: list[Placed]
    edges: list[tuple[int, int, float | None]] = field(default_factory=list)  # (src, dst, value) drawn
    frames: list[tuple[int, int, int, int]] = field(default_factory=list)  # where each explain panel's image is

    def png_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        return buffer.getvalue()

    def __repr__(self) -> str:
        return f"Picture({self.image.width}x{self.image.height}, {len(self.layout)} placed, {len(self.edges)} edges)"


# -- output -----------------------------------------------------------------------------------------


def check_output(path: str | Path) -> Path:
    """Refuse an output path before any work is done, so a failed command writes nothing."""
    target = Path(path)
    if target.is_dir():
        raise InputFileError(f"{path}: is a folder; give the picture's file name (e.g. {target / 'picture.png'})")
    folder = target.parent
    if not folder.is_dir():
        raise InputFileError(f"{path}: cannot write the picture: folder {folder} does not exist")
    return check_output_file(target, "picture")  # and it can be written there


def write_png(picture: Picture, path: str | Path) -> None:
    """Encode first, then write atomically: readers see no file or the whole picture, never half of one."""
    atomic_write_bytes(check_output(path), picture.png_bytes())
