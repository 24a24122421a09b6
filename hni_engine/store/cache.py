"""A content-addressed cache for expensive stage results (`.hni/cache/`, safe to delete).

An entry's key is the sha256 of everything the result depends on (image content, model hash, layer,
the stage's config section), so a changed parameter misses exactly the entries that depend on it and
nothing else. Entries are written atomically and carry their own key: a truncated, corrupt or misplaced
file is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hni_dsl.fileio import atomic_write_bytes
from hni_engine import formats

__all__ = ["Cache", "cache_key"]

_ENTRY_FORMAT = formats.CACHE_ENTRY


def cache_key(*parts: Any) -> str:
    """sha256 of a JSON rendering of ``parts`` (strings, numbers, lists, dicts)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    """``Cache(root)`` then ``cache.get_or_compute(stage, key, fn)``; counts hits, misses and repairs."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.repaired = 0

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.pt"

    def has(self, stage: str, key: str) -> bool:
        """Whether an entry is there (not whether it reads back: `load` says that)."""
        return self.enabled and self.path(stage, key).is_file()

    def load(self, stage: str, key: str) -> Any | None:
        if not self.enabled:
            return None
        path = self.path(stage, key)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(entry, dict) or entry.get("format") != _ENTRY_FORMAT or entry.get("key") != key:
                raise ValueError("entry does not carry its key")
            return entry["value"]
        except Exception as exc:  # a corrupt entry is dropped and recomputed
            warnings.warn(f"cache entry {path} is unreadable ({type(exc).__name__}); recomputing", stacklevel=2)
            path.unlink(missing_ok=True)
            self.repaired += 1
            return None

    def save(self, stage: str, key: str, value: Any) -> None:
        if not self.enabled:
            return
        buffer = io.BytesIO()
        torch.save({"format": _ENTRY_FORMAT, "key": key, "value": value}, buffer)
        atomic_write_bytes(self.path(stage, key), buffer.getvalue(), fsync=False)

    def get_or_compute(self, stage: str, key: str, compute: Callable[[], Any]) -> Any:
        value = self.load(stage, key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = compute()
        self.save(stage, key, value)
        return value

    def stats(self) -> str:
        return f"{self.hits} cached, {self.misses} computed" + (f", {self.repaired} repaired" if self.repaired else "")
