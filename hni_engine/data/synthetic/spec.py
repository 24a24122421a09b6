"""The building blocks of a synthetic world as validated, frozen values: parts, layouts, classes, rules, sizes.

Every value checks itself when built and reports a bad field with the value it got, ``(got ...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

__all__ = [
    "ClassDef",
    "Colour",
    "Composition",
    "ContextPolicy",
    "ContextRule",
    "Layout",
    "Part",
    "PoseRule",
    "Shape",
    "Slot",
    "Split",
    "Texture",
    "WorldConfig",
    "bad_value",
    "check_name",
]


class Shape(str, Enum):
    DISC = "disc"
    SQUARE = "square"
    TRIANGLE = "triangle"
    BAR = "bar"
    RING = "ring"
    CROSS = "cross"
    DIAMOND = "diamond"
    HEXAGON = "hexagon"
    STAR = "star"
    SEMICIRCLE = "semicircle"


class Colour(str, Enum):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    CYAN = "cyan"
    BLUE = "blue"
    PURPLE = "purple"
    PINK = "pink"
    BROWN = "brown"
    WHITE = "white"
    BLACK = "black"


class Texture(str, Enum):
    SOLID = "solid"
    STRIPES = "stripes"
    DOTS = "dots"
    CHECKER = "checker"


class Split(str, Enum):
    TRAIN = "train"
    TEST = "test"


class ContextPolicy(str, Enum):
    """What the biased classes' test images carry instead of their training context."""

    ABSENT = "absent"  # no context object at all
    SHUFFLED = "shuffled"  # the context object of another biased class
    MIXED = "mixed"  # half absent, half shuffled (exact halves per class)


def bad_value(what: str, expected: str, got: object) -> ValueError:
    """The error for a bad value, showing it: "WHAT must be EXPECTED (got VALUE)"."""
    return ValueError(f"{what} must be {expected} (got {got!r})")


def check_name(what: str, name: object) -> None:
    # Names become folder names and DSL identifiers: keep them to one safe path component.
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise bad_value(what, "a non-empty name of letters, digits, '_' or '-'", name)


def _frozen_mapping(obj: object, attr: str, value: Mapping[str, Any]) -> None:
    object.__setattr__(obj, attr, MappingProxyType(dict(value)))


@dataclass(frozen=True)
class Part:
    """One primitive: a shape in a colour with a texture."""

    name: str
    shape: Shape
    colour: Colour
    texture: Texture

    def __post_init__(self) -> None:
        check_name("part name", self.name)
        for attr, enum in (("shape", Shape), ("colour", Colour), ("texture", Texture)):
            value = getattr(self, attr)
            try:
                object.__setattr__(self, attr, enum(value))
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                raise bad_value(f"part {self.name!r}: {attr}", f"one of {choices}", value) from None

    def to_json(self) -> dict[str, str]:
        return {"shape": self.shape.value, "colour": self.colour.value, "texture": self.texture.value}


@dataclass(frozen=True)
class Slot:
    """Where a part sits in a layout: centre (x, y) and radius in units of R, angle in degrees."""

    x: float
    y: float
    size: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        for attr in ("x", "y"):
            if not -1.5 <= getattr(self, attr) <= 1.5:
                raise bad_value(f"slot {attr}", "in [-1.5, 1.5]", getattr(self, attr))
        if not 0.05 <= self.size <= 1.0:
            raise bad_value("slot size", "in [0.05, 1.0]", self.size)


@dataclass(frozen=True)
class Layout:
    """A named spatial arrangement; slot order is also the drawing order (later slots on top)."""

    name: str
    slots: tuple[Slot, ...]

    def __post_init__(self) -> None:
        check_name("layout name", self.name)
        object.__setattr__(self, "slots", tuple(self.slots))
        if not 1 <= len(self.slots) <= 6:
            raise bad_value(f"layout {self.name!r}: number of slots", "between 1 and 6", len(self.slots))

    def to_json(self) -> list[dict[str, float]]:
        return [dataclasses.asdict(slot) for slot in self.slots]


@dataclass(frozen=True)
class ClassDef:
    """A class: distinct parts in the slots of a layout; ``seen=False`` classes only get test images."""

    name: str
    parts: tuple[str, ...]
    layout: str
    seen: bool = True

    def __post_init__(self) -> None:
        check_name("class name", self.name)
        object.__setattr__(self, "parts", tuple(self.parts))
        if not 3 <= len(self.parts) <= 4:
            raise bad_value(f"class {self.name!r}: number of parts", "3 or 4", len(self.parts))
        if len(set(self.parts)) != len(self.parts):
            raise bad_value(f"class {self.name!r}: parts", "distinct", self.parts)


@dataclass(frozen=True)
class Composition:
    """How an unseen class is defined: part k of ``parts`` is part ``index`` (1-based) of class ``source``."""

    name: str
    parts: tuple[tuple[str, int], ...]
    layout_from: str

    def __post_init__(self) -> None:
        check_name("composed class name", self.name)
        object.__setattr__(self, "parts", tuple((source, index) for source, index in self.parts))

    def script(self) -> str:
        """The HNI edit statement that defines this class."""
        refs = ", ".join(f"{source}.c{index}" for source, index in self.parts)
        return f"define class {self.name} from {refs}, edges like {self.layout_from}"


@dataclass(frozen=True)
class PoseRule:
    """Pose = rotation of the whole layout: one of ``angles`` (degrees) plus uniform jitter.

    ``train`` restricts classes to some pose indices in training (posebias); other classes, and every class
    at test, use all poses, cycling through them so the counts are balanced.
    """

    angles: tuple[float, ...] = (0.0,)
    jitter_deg: float = 20.0
    train: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "angles", tuple(self.angles))
        if not self.angles:
            raise bad_value("pose angles", "a non-empty tuple", self.angles)
        if not 0.0 <= self.jitter_deg <= 180.0:
            raise bad_value("pose jitter_deg", "in [0, 180]", self.jitter_deg)
        for cls, poses in self.train.items():
            if not poses or any(not 0 <= p < len(self.angles) for p in poses):
                raise bad_value(f"train poses of class {cls!r}", f"non-empty indices in [0, {len(self.angles)})", poses)
        _frozen_mapping(self, "train", {cls: tuple(poses) for cls, poses in self.train.items()})

    def poses(self, split: Split, cls: str) -> tuple[int, ...]:
        if split is Split.TRAIN and cls in self.train:
            return tuple(self.train[cls])
        return tuple(range(len(self.angles)))


@dataclass(frozen=True)
class ContextRule:
    """Spurious context: ``objects[class]`` appears in ``rate`` of that class's training images.

    The context is a large primitive in a random image corner, drawn behind the object. ``size`` is its
    radius as a fraction of the image side. At test, see :class:`ContextPolicy`; a shuffled test image of
    class c carries the context of ``swap[c]`` (e.g. its look-alike) where given, else that of a random
    other biased class.
    """

    objects: Mapping[str, str]
    rate: float = 0.95
    test: ContextPolicy = ContextPolicy.MIXED
    size: float = 0.2
    swap: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.objects) < 2:
            raise bad_value("context objects", "a mapping of at least 2 classes", dict(self.objects))
        if len(set(self.objects.values())) != len(self.objects):
            raise bad_value("context objects", "one distinct object per class", dict(self.objects))
        if not 0.0 <= self.rate <= 1.0:
            raise bad_value("context rate", "in [0, 1]", self.rate)
        if not 0.05 <= self.size <= 0.3:
            raise bad_value("context size", "in [0.05, 0.3]", self.size)
        for cls, other in self.swap.items():
            if cls not in self.objects or other not in self.objects or cls == other:
                raise bad_value("context swap", "pairs of two different biased classes", (cls, other))
        try:
            object.__setattr__(self, "test", ContextPolicy(self.test))
        except ValueError:
            raise bad_value("context test policy", "one of absent, shuffled, mixed", self.test) from None
        _frozen_mapping(self, "objects", self.objects)
        _frozen_mapping(self, "swap", self.swap)


@dataclass(frozen=True)
class WorldConfig:
    """What a user sizes: image side, images per class per split, seed, clutter (max distractors)."""

    image_size: int = 64
    train_per_class: int = 120
    test_per_class: int = 50
    seed: int = 0
    clutter: int = 1

    def __post_init__(self) -> None:
        checks = (
            ("image_size", 16, 1024),
            ("train_per_class", 1, 100_000),
            ("test_per_class", 1, 100_000),
            ("seed", 0, 2**63 - 1),
            ("clutter", 0, 8),
        )
        for attr, low, high in checks:
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise bad_value(f"WorldConfig.{attr}", f"an integer in [{low}, {high}]", value)

    @classmethod
    def quick(cls, **overrides: Any) -> WorldConfig:
        """A small world for smoke runs: 30 train and 15 test images per class."""
        return cls(**{"train_per_class": 30, "test_per_class": 15, **overrides})

    def count(self, split: Split) -> int:
        return self.train_per_class if split is Split.TRAIN else self.test_per_class
