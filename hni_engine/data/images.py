"""Image data in torchvision's ImageFolder layout (ROOT/<class>/<image>), with clear errors.

A split is read once at load, to check every file decodes and to key each image by its pixels (the cache's
keys), and is not held: its images are decoded again, batch by batch, when a stage reads them
(hni_engine.data.image_array). Memory grows with a batch, not with the split.
"""

from __future__ import annotations

import hashlib
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hni_dsl.class_names import prefix_clash
from hni_dsl.errors import HniError
from hni_engine.data.image_array import FileImages, ImageArray, take

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataError",
    "ImageSet",
    "class_difference",
    "image_digest",
    "load_image",
    "load_image_folder",
    "require_classes",
    "scan_image_folder",
    "to_tensor",
    "turned_copies",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")
# What decoding a damaged or hostile file raises, besides OSError (truncated data) and PIL's own errors.
_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
    MemoryError,
)


class DataError(HniError):
    """Missing or empty folders, unreadable images, class lists that do not match."""


@dataclass
class ImageSet:
    """One split: ``images`` read as (N, S, S, 3) uint8 (decoded on access), ``labels`` (N,), class names,
    file paths."""

    classes: list[str]
    images: ImageArray
    labels: np.ndarray
    paths: list[str]
    root: str
    digests: list[str] = field(default_factory=list)  # sha256 of each decoded image, for cache keys

    def __len__(self) -> int:
        return len(self.labels)

    def indices_of(self, class_index: int) -> np.ndarray:
        return np.flatnonzero(self.labels == class_index)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet(
            self.classes,
            take(self.images, idx),
            self.labels[idx],
            [self.paths[i] for i in idx],
            self.root,
            [self.digests[i] for i in idx] if self.digests else [],
        )


def class_difference(expected: Sequence[str], found: Sequence[str], missing: str, extra: str) -> str:
    """How two class lists differ, in words: ``missing`` names those only expected, ``extra`` those only found."""
    only_expected = [c for c in expected if c not in found]
    only_found = [c for c in found if c not in expected]
    detail = []
    if only_expected:
        detail.append(f"{missing}: {', '.join(map(repr, only_expected))}")
    if only_found:
        detail.append(f"{extra}: {', '.join(map(repr, only_found))}")
    return "; ".join(detail) or "same names in a different order"


def image_digest(image: np.ndarray) -> str:
    """Content key of a decoded image (for cache keys): the same pixels give the same key, whatever the file."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:24]


def turned_copies(data: ImageSet, copies: int, seed: int) -> tuple[ImageSet, np.ndarray]:
    """``copies`` rotated versions of every image (angles uniform in [0, 360), seeded), and each copy's source.

    The border the rotation uncovers is filled by reflecting the image, so no blank corners appear that the
    network has never seen. Copies keep their source's label and path (with ``#turn<k>`` appended).
    """
    from skimage.transform import rotate

    rng = np.random.default_rng(seed)
    angles = rng.uniform(0.0, 360.0, size=(len(data), copies))
    images, sources, paths = [], [], []
    for i, image in enumerate(data.images):
        for k in range(copies):
            turned = rotate(  # type: ignore[no-untyped-call]  # skimage's rotate has no annotations
                image, angles[i, k], mode="reflect", order=1, preserve_range=True
            )
            images.append(np.clip(np.rint(turned), 0, 255).astype(np.uint8))
            sources.append(i)
            paths.append(f"{data.paths[i]}#turn{k}")
    source = np.asarray(sources, dtype=np.int64)
    stacked = np.stack(images) if images else np.asarray(data.images[:0])
    return ImageSet(
        data.classes, stacked, data.labels[source], paths, data.root, [image_digest(image) for image in stacked]
    ), source


def scan_image_folder(root: str | Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names (sorted folder names) and (path, label) pairs. Errors name the folder and the problem."""
    base = Path(root)
    if not base.exists():
        raise DataError(f"{root}: no such folder")
    if not base.is_dir():
        raise DataError(f"{root}: not a folder")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/<image>)")
    items: list[tuple[str, int]] = []
    for label, name in enumerate(classes):
        listed = sorted(p for p in (base / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        dangling = [p for p in listed if p.is_symlink() and not p.exists()]
        if dangling:
            more = f" (and {len(dangling) - 1} more)" if len(dangling) > 1 else ""
            raise DataError(f"{dangling[0]}: a symbolic link to a file that does not exist{more}")
        files = [p for p in listed if p.is_file()]
        if not files:
            raise DataError(f"{base / name}: class {name!r} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        items.extend((str(f), label) for f in files)
    return classes, items


def require_classes(root: str | Path, classes: Sequence[str]) -> None:
    """A classifier tells classes apart (an ImageFolder root with fewer than two is a DataError naming it), and
    each class has its own concept ids (two folders that would share them are one too)."""
    if len(classes) < 2:
        raise DataError(
            f"{root}: only one class folder ({', '.join(map(repr, classes))}); "
            f"a classifier needs at least two (expected {root}/<class>/<image>)"
        )
    clash = prefix_clash(classes)
    if clash is not None:
        raise DataError(f"{root}: {clash}")


def load_image(path: str | Path, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3); an unreadable, damaged or oversized file raises DataError naming it.

    PIL checks the size its header claims before decoding any pixel; past `Image.MAX_IMAGE_PIXELS` (89M) it
    only warns, and would decode: that warning is an error here (a decompression bomb claims billions)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                img = opened.convert("RGB")
                if img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8).copy()
    except FileNotFoundError:
        kind = "a symbolic link to a file that does not exist" if Path(path).is_symlink() else "no such image file"
        raise DataError(f"{path}: {kind}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        raise DataError(
            f"{path}: its header claims {claimed}, more than the {Image.MAX_IMAGE_PIXELS:,} an image may have "
            f"(a decompression bomb?)"
        ) from None
    except _DECODE_ERRORS as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {detail})") from None


def load_image_folder(
    root: str | Path,
    size: int,
    classes: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    extra_ok: bool = False,
) -> ImageSet:
    """A split, checked and keyed (every image decoded once) but not held. ``classes`` (e.g. the model's)
    must equal the folder's class list if given;
    with ``extra_ok`` the folder may also hold classes the model does not know (a zero-shot test split):
    those images are left out and the labels follow ``classes``."""
    found, items = scan_image_folder(root)
    if classes is not None and extra_ok and set(classes) <= set(found):
        keep = {found.index(name): i for i, name in enumerate(classes)}
        items = [(path, keep[label]) for path, label in items if label in keep]
        found = list(classes)
    if classes is not None and list(classes) != found:
        detail = class_difference(classes, found, "missing in the data", "not known to the model")
        raise DataError(f"{root}: the class folders do not match the model's classes ({detail})")
    digests = []
    for i, (path, _) in enumerate(items):
        digests.append(image_digest(load_image(path, size)))  # decoded to check it and key it, then let go
        if progress is not None:
            progress(i + 1, len(items))
    labels = np.array([label for _, label in items], dtype=np.int64)
    paths = [p for p, _ in items]
    images = FileImages(paths, size, load_image, digests, unchanged_since_loaded)
    return ImageSet(found, images, labels, paths, str(root), digests)


def unchanged_since_loaded(path: str, image: np.ndarray, digest: str) -> None:
    """A DataError naming ``path`` when its pixels are not those it had when its split was loaded."""
    if image_digest(image) != digest:
        raise DataError(
            f"{path}: changed while this command was running (its pixels differ from when it was loaded); "
            "the command stopped here: run it again once the data stays put"
        )


def to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> normalised float (N, 3, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, H, W)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s
