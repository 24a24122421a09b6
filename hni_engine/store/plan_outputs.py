"""Where `hni plan -o FILE [--images DIR]` may write: checked before anything is written, so a refused
command leaves every file as it was.

- FILE is a new file or an existing regular file (never a device, a pipe or a folder) in an existing,
  writable folder; it is none of the command's inputs (the scripts, the library), and not one of the
  workspace's own files (its hni.toml, names.txt, edits/, concepts/, runs/, model/, data/, .hni/).
- DIR (the Markdown's pictures) is a new folder, an empty one, or one that holds only pictures named as
  hni names them (an earlier plan's): a folder of anything else is refused rather than written into; it
  is not inside the workspace's own folders either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hni_dsl.fileio import InputFileError
from hni_engine.store.layout import Layout, inside
from hni_engine.store.preflight import check_output_file

__all__ = ["PICTURE_NAME", "check_images_dir", "check_plan_output"]

PICTURE_NAME = re.compile(r"\d{2}-[A-Za-z0-9_-]*\.png")  # plan_markdown's picture files
_OWN_FILES = ("hni.toml", "names.txt")
_OWN_FOLDERS = ("edits", "concepts", "runs", "model", "data", ".hni")


def _own(layout: Layout, path: Path) -> str | None:
    """Which of the workspace's own files or folders ``path`` is or lies in, if any."""
    for name in _OWN_FILES:
        if path.resolve() == (layout.root / name).resolve():
            return name
    for name in _OWN_FOLDERS:
        if inside(path, layout.root / name):
            return f"{name}/"
    return None


def check_plan_output(output: str, layout: Layout, inputs: Sequence[str | Path]) -> Path:
    target = Path(output)
    if target.exists() and not target.is_file() and not target.is_dir():
        raise InputFileError(f"{output}: not a regular file (a device, a pipe?); give a file name for the plan")
    check_output_file(target, "plan")
    for given in inputs:
        if Path(given).exists() and target.exists() and target.resolve() == Path(given).resolve():
            raise InputFileError(f"{output}: is one of the plan's own inputs ({given}); write the plan elsewhere")
    own = _own(layout, target)
    if own is not None:
        raise InputFileError(f"{output}: inside the workspace's {own}, which hni keeps; write the plan elsewhere")
    return target


def check_images_dir(images: Path, layout: Layout, output: Path) -> Path:
    if images.exists() and not images.is_dir():
        raise InputFileError(f"--images {images}: is a file, not a folder")
    if not images.parent.is_dir():
        raise InputFileError(f"--images {images}: its folder {images.parent} does not exist")
    if inside(output, images) and output.resolve() == images.resolve():
        raise InputFileError(f"--images {images}: is the plan's own file")
    own = _own(layout, images)
    if own is not None:
        raise InputFileError(f"--images {images}: inside the workspace's {own}, which hni keeps")
    if images.is_dir():
        others = [p.name for p in images.iterdir() if not PICTURE_NAME.fullmatch(p.name)]
        if others:
            raise InputFileError(
                f"--images {images}: holds files hni did not write ({', '.join(sorted(others)[:3])}"
                f"{', ...' if len(others) > 3 else ''}); give a new or empty folder"
            )
    return images
