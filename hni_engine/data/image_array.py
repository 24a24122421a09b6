"""Images that are decoded when a stage reads them, not held: a split is a list of files, and each batch is
decoded as it is needed (by DataLoader workers when a stage streams many batches).

An `ImageArray` answers what the stages ask of an (N, S, S, 3) uint8 array: its length and shape, one
image by index, a batch by slice or index array, and iteration. Memory then grows with the batch, not with
the split (and `batches` hands the freed pages back every few batches: hni_engine.data.memory). Images
the tool makes itself (rotated copies, composites) stay ordinary arrays; `ConcatImages` joins them to a
split without decoding it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hni_dsl.errors import HniError
from hni_engine.data.memory import release_every

__all__ = [
    "ConcatImages",
    "FileImages",
    "ImageArray",
    "batches",
    "default_workers",
    "take",
]

# Below this many images a worker process costs more to start than it saves.
WORKER_MIN_IMAGES = 256


ImageArray = Union[np.ndarray, "FileImages", "ConcatImages"]
Index = int | np.integer[Any] | slice | np.ndarray | Sequence[int]


def _positions(index: slice | np.ndarray | Sequence[int], length: int) -> np.ndarray:
    if isinstance(index, slice):
        return np.arange(length)[index]
    positions = np.asarray(index)
    if positions.dtype == bool:
        return np.flatnonzero(positions)
    positions = positions.astype(np.int64)
    return np.where(positions < 0, positions + length, positions)


class FileImages:
    """Image files decoded on each read, resized to ``size`` (hni_engine.data.images.load_image)."""

    def __init__(
        self,
        paths: Sequence[str],
        size: int,
        decode: Callable[[str, int], np.ndarray],
        digests: Sequence[str] = (),
        verify: Callable[[str, np.ndarray, str], None] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.size = size
        self.decode = decode
        # What each file held when the split was loaded: ``verify`` refuses a file changed since (the
        # cache's entries and the run's provenance name those pixels, not the new ones).
        self.digests = list(digests)
        self.verify = verify
        self.dtype = np.dtype(np.uint8)

    def _read(self, i: int) -> np.ndarray:
        image = self.decode(self.paths[i], self.size)
        if self.verify is not None and self.digests:
            self.verify(self.paths[i], image, self.digests[i])
        return image

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), self.size, self.size, 3)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._read(int(index) + (len(self) if int(index) < 0 else 0))
        positions = _positions(index, len(self))
        out = np.empty((len(positions), self.size, self.size, 3), dtype=np.uint8)
        for k, i in enumerate(positions):
            out[k] = self._read(int(i))
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read(i)

    def take(self, indices: np.ndarray) -> FileImages:
        picked = [int(i) for i in indices]
        digests = [self.digests[i] for i in picked] if self.digests else []
        return FileImages([self.paths[i] for i in picked], self.size, self.decode, digests, self.verify)


class ConcatImages:
    """Several image arrays read as one, in order (a split followed by images the tool made)."""

    def __init__(self, parts: Sequence[ImageArray]) -> None:
        self.parts = [p for p in parts if len(p)] or list(parts[:1])
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.dtype = np.dtype(np.uint8)

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self.starts[-1]),) + tuple(self.parts[0].shape[1:])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _locate(self, i: int) -> tuple[int, int]:
        part = int(np.searchsorted(self.starts, i, side="right")) - 1
        return part, i - int(self.starts[part])

    def __getitem__(self, index: Index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            i = int(index) + (len(self) if int(index) < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"index {int(index)} out of range for {len(self)} images")
            part, at = self._locate(i)
            return np.asarray(self.parts[part][at])
        positions = _positions(index, len(self))
        out = np.empty((len(positions),) + self.shape[1:], dtype=np.uint8)
        for k, i in enumerate(positions):
            part, at = self._locate(int(i))
            out[k] = self.parts[part][at]
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for part in self.parts:
            yield from iter(part)

    def take(self, indices: np.ndarray) -> ConcatImages:
        return ConcatImages([np.asarray(self[indices])])


def take(images: ImageArray, indices: np.ndarray) -> ImageArray:
    """The images at ``indices``, still undecoded where they were."""
    if isinstance(images, np.ndarray):
        return np.asarray(images[indices])
    return images.take(indices)


def default_workers() -> int:
    """DataLoader worker processes: ``HNI_DATA_WORKERS`` if set (0: decode in this process), else one per
    core beyond the first, which trains (at most 4)."""
    setting = os.environ.get("HNI_DATA_WORKERS", "").strip()
    if not setting:
        return max(0, min(4, (os.cpu_count() or 1) - 1))
    if not setting.isdigit() or int(setting) > 64:
        raise HniError(f"HNI_DATA_WORKERS={setting!r}: expected a whole number of worker processes, 0 to 64")
    return int(setting)


class _Batches(Dataset[np.ndarray]):
    def __init__(self, images: ImageArray) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:  # a batch's indices, not one image's
        return np.asarray(self.images[index])


def batches(images: ImageArray, order: Sequence[np.ndarray], workers: int | None = None) -> Iterator[np.ndarray]:
    """The batches ``images[order[0]]``, ``images[order[1]]``, ... as uint8 arrays, in that order.

    Files are decoded by ``workers`` processes ahead of the consumer (``None``: `default_workers`); an
    array in memory, or a split too small to repay a worker's start, is read in this process."""
    workers = default_workers() if workers is None else workers
    if isinstance(images, np.ndarray) or workers <= 0 or len(images) < WORKER_MIN_IMAGES or len(order) < 2:
        yield from release_every(np.asarray(images[idx]) for idx in order)
        return
    loader: DataLoader[np.ndarray] = DataLoader(
        _Batches(images),
        batch_size=None,  # each sampled item is already a batch's index array
        sampler=list(order),
        num_workers=workers,
        prefetch_factor=2,
        collate_fn=_as_is,
        worker_init_fn=_one_thread,
    )
    yield from release_every(loader)


def _as_is(batch: Any) -> Any:
    return batch


def _one_thread(_: int) -> None:
    # A worker only decodes; torch threads in it would compete with the training process for the cores.
    torch.set_num_threads(1)
