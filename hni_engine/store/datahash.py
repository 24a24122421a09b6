"""Which data a result was made from: a sha256 of every image file of the train and test splits.

Extraction writes what it saw to `concepts/data.json`; a run records the digest in its provenance and its
id. Every command that uses the extraction compares the data now with what extraction saw, and says what
changed (files added, removed or changed), because concepts and metrics from other data mislead silently.

Files are hashed by content, so a copied or touched file is not a change and an edit that keeps size and
time is. The hashes are cached in `.hni/cache/data-files.json` by (path, size, mtime), so a second look
reads no image. Torch-free: `hni check` and `hni plan` look too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hni_dsl.fileio import atomic_write_bytes
from hni_engine.store.config import ConfigError, load_config
from hni_engine.store.layout import Layout, WorkspaceError

__all__ = [
    "DataChange",
    "DataState",
    "compare",
    "data_roots",
    "data_state",
    "file_sha256",
    "image_files",
    "recorded_state",
    "stale_data_warning",
    "warn_stale",
]

FORMAT = "hni-data/1"
SPLITS = ("train", "test")
# The files scan_image_folder reads (hni_engine.data.images, which imports torch): keep the two in step.
IMAGE_SUFFIXES = frozenset((".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp"))
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataState:
    """The data of a workspace: ``files`` maps "<split>/<class>/<file>" to the sha256 of the file's bytes."""

    files: Mapping[str, str]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(f"{name}\t{self.files[name]}\n".encode())
        return digest.hexdigest()

    def count(self, split: str) -> int:
        return sum(1 for name in self.files if name.startswith(split + "/"))

    def summary(self) -> dict[str, Any]:
        """What a run's provenance records."""
        return {"sha256": self.sha256, **{f"{split}_files": self.count(split) for split in SPLITS}}

    def to_json(self) -> str:
        files = dict(sorted(self.files.items()))
        return json.dumps({"format": FORMAT, "sha256": self.sha256, "files": files}, indent=1) + "\n"

    def __repr__(self) -> str:
        return f"DataState({len(self.files)} files, sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class DataChange:
    added: list[str]
    removed: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def text(self, shown: int = 3) -> str:
        parts = []
        for names, what in ((self.added, "added"), (self.removed, "removed"), (self.changed, "changed")):
            if names:
                listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
                parts.append(f"{len(names)} file{'s' if len(names) != 1 else ''} {what} ({listed})")
        return "; ".join(parts)


def compare(before: DataState, now: DataState) -> DataChange:
    old, new = before.files, now.files
    return DataChange(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(n for n in set(old) & set(new) if old[n] != new[n]),
    )


def image_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(name relative to the split root, path) of the files an ImageFolder split holds, in name order."""
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                yield path.relative_to(root).as_posix(), path


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(path: Path, roots: dict[str, str]) -> dict[str, list[Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("roots") != roots or not isinstance(data.get("files"), dict):
        return {}
    files: dict[str, list[Any]] = data["files"]
    return files


def data_state(layout: Layout, roots: Mapping[str, Path] | None = None) -> DataState:
    """Hash the workspace's data (the splits hni.toml names, or ``roots``); unreadable files are errors."""
    roots = dict(roots) if roots is not None else data_roots(layout)
    # Roots inside the workspace are named relative to it: a copied workspace keeps its cache.
    named = {
        split: Path(os.path.relpath(root, layout.root)).as_posix()
        if layout.contains(root)
        else str(Path(root).resolve())
        for split, root in roots.items()
    }
    cache_path = layout.cache_dir / "data-files.json"
    cache = _read_cache(cache_path, named)
    fresh: dict[str, list[Any]] = {}
    for split, root in roots.items():
        for name, path in image_files(Path(root)):
            key = f"{split}/{name}"
            try:
                stat = path.stat()
                known = cache.get(key)
                if isinstance(known, list) and len(known) == 3 and known[:2] == [stat.st_size, stat.st_mtime_ns]:
                    sha = str(known[2])
                else:
                    sha = file_sha256(path)
            except OSError as exc:
                raise WorkspaceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
            fresh[key] = [stat.st_size, stat.st_mtime_ns, sha]
    if fresh != cache:
        try:  # a cache: a workspace that cannot be written (or a full disk) just hashes again next time
            atomic_write_bytes(cache_path, json.dumps({"roots": named, "files": fresh}).encode(), fsync=False)
        except OSError:
            pass
    return DataState({key: str(entry[2]) for key, entry in fresh.items()})


def data_roots(layout: Layout) -> dict[str, Path]:
    config = load_config(layout.config_path)
    return {split: layout.resolve(getattr(config.data, split)) for split in SPLITS}


def recorded_state(layout: Layout) -> DataState | None:
    """What extraction saw (`concepts/data.json`); None when it recorded nothing (an older extraction)."""
    path = layout.data_manifest_path
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("format") != FORMAT or not isinstance(files, dict):
            raise ValueError("not an hni data manifest")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkspaceError(f"{path}: unreadable ({exc}); run `hni extract` again") from None
    return DataState({str(k): str(v) for k, v in files.items()})


def stale_data_warning(layout: Layout) -> str | None:
    """One line saying how the data differs from what extraction saw; None when it does not (or unknown)."""
    try:
        before = recorded_state(layout)
        if before is None or not layout.config_path.is_file():
            return None
        change = compare(before, data_state(layout))
    except (WorkspaceError, ConfigError) as exc:
        return f"warning: cannot tell whether the data changed since extraction: {exc}"
    if not change:
        return None
    return (
        f"warning: the data changed since extraction ({layout.data_manifest_path}): {change.text()}; "
        f"concepts, GRN and runs were made from the old data (`hni extract` again to use the new)"
    )


def warn_stale(layout: Layout) -> None:
    """Print :func:`stale_data_warning`'s line, if any, on stderr."""
    line = stale_data_warning(layout)
    if line:
        print(line, file=sys.stderr)
