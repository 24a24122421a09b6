"""The workspace: a folder a user can keep in git (caches aside), and how one is made.

```
hni.toml                 configuration (hni_engine.config)
data/{train,test}/...    the built-in synthetic data (a user's own data may live anywhere)
model/base.pt            the original network
concepts/library.json    the symbolic concept library (reviewed)
concepts/anchors.pt      its numeric side: anchors and matching thresholds keyed by concept id
concepts/patches/...     exemplar patches per concept (for people)
concepts/grn.pt          the graph reasoning network that mimics the original network
concepts/extract.json    what extraction measured (fidelity, timings, cache use)
edits/*.hni              edit scripts, applied in file-name order
.hni/cache/              content-addressed stage results, safe to delete
```
"""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional

from hni_dsl.errors import HniError

from .config import DataConfig, HniConfig, ModelConfig, load_config, write_config
from .data import DataError, ImageSet, load_image_folder, scan_image_folder

__all__ = ["Workspace", "WorkspaceError", "init_scenario", "init_user"]


class WorkspaceError(HniError):
    pass


class Workspace:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "hni.toml"

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.root / path

    @property
    def model_path(self) -> Path:
        return self.resolve(self.config.model.checkpoint)

    concepts_dir = property(lambda self: self.root / "concepts")
    library_path = property(lambda self: self.concepts_dir / "library.json")
    anchors_path = property(lambda self: self.concepts_dir / "anchors.pt")
    patches_dir = property(lambda self: self.concepts_dir / "patches")
    grn_path = property(lambda self: self.concepts_dir / "grn.pt")
    extract_report_path = property(lambda self: self.concepts_dir / "extract.json")
    edits_dir = property(lambda self: self.root / "edits")
    runs_dir = property(lambda self: self.root / "runs")
    cache_dir = property(lambda self: self.root / ".hni" / "cache")

    @cached_property
    def config(self) -> HniConfig:
        if not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: no such workspace folder")
        return load_config(self.config_path)

    # -- data ----------------------------------------------------------------------------------
    def data_classes(self) -> list[str]:
        classes, _ = scan_image_folder(self.resolve(self.config.data.train))
        return classes

    def load_split(self, split: str, classes: list[str],
                   progress: Optional[Callable[[int, int], None]] = None) -> ImageSet:
        root = self.resolve(getattr(self.config.data, split))
        return load_image_folder(root, self.config.model.input_size, classes, progress, extra_ok=(split == "test"))

    def classes_of_interest(self, known: list[str]) -> list[str]:
        chosen = list(self.config.classes) or list(known)
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise WorkspaceError(f"{self.config_path}: field 'classes': {', '.join(map(repr, unknown))} "
                                 f"not among the data's classes ({', '.join(known)})")
        return chosen


def _fresh_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise WorkspaceError(f"{path}: exists and is not an empty folder; choose a new workspace folder")


def scenario_config(name: str, seed: int, image_size: int) -> HniConfig:
    """The config `hni init --scenario` writes (each choice below is measured in BENCHMARKS.md).

    Where a scenario's concepts are small objects (a context object, a part), extraction uses `crop`
    patch features and Grad-CAM at `layer3`: at 64 px ResNet-18's `layer4` map is 2x2, so a `pool`
    feature is the feature of a whole quadrant and the small object is lost in it (measured: the spurious
    context reached no c-SCG with `pool`, and every injected class's with `crop`; BENCHMARKS.md).
    """
    from .config import ExtractConfig

    from .config import DistillConfig

    model = ModelConfig(input_size=image_size)
    extract = ExtractConfig()
    distill = DistillConfig()
    if name in ("spurious", "zeroshot") and image_size < 128:
        model = model.model_copy(update={"gradcam_layer": "layer3"})
        extract = extract.model_copy(update={"feature_mode": "crop"})
    if name == "posebias":
        # Two thirds of the test images are in poses no training image has. A GRN that mimicked the network
        # on the training images alone agreed with it on 0.81-0.95 of them (3 seeds); with two rotated copies
        # of each training image in its mimic data, on 0.98-1.00 (BENCHMARKS.md, "Rotated copies").
        extract = extract.model_copy(update={"mimic_turns": 2})
        # A pose-biased network tells its classes apart by the pose of the parts they share, so its Grad-CAM
        # keeps the shared body: within it, 1-2 of the 3 classes per seed had no concept of their own part
        # (3 quick seeds), and the edit that keeps only those concepts had nothing to keep. Looking for
        # concepts in the whole image (ACE) gave every class of every seed one (BENCHMARKS.md, "Posebias:
        # concepts from the whole image").
        extract = extract.model_copy(update={"concept_region": "image"})
        # The edit keeps the concepts of each class's own part and drops the relations; the student then
        # needs images in the poses it never saw, labelled by the edited GRN: the same copies, from the cache.
        distill = distill.model_copy(update={"turns": 2})
        if image_size < 128:
            # At 64 px a `pool` feature is a quadrant of the 2x2 `layer4` map: no concept of a single part.
            extract = extract.model_copy(update={"feature_mode": "crop"})
    if name == "zeroshot":
        # Distilling from seen images only (the paper) taught the network none of the new classes here
        # (0.00, BENCHMARKS.md); the virtual images in pixels do.
        distill = distill.model_copy(update={"composite_images": True})
    return HniConfig(seed=seed, model=model, data=DataConfig(), extract=extract, distill=distill)


def init_scenario(root: str | Path, name: str, *, seed: int = 0, quick: bool = False, image_size: int = 64,
                  progress: Optional[Callable[[int, int], None]] = None) -> Workspace:
    """A workspace with a built-in synthetic scenario's data and a config for it."""
    from . import synthetic

    target = Path(root)
    _fresh_target(target)
    if name not in synthetic.SCENARIOS:
        raise WorkspaceError(f"unknown scenario {name!r}; choose one of {', '.join(synthetic.SCENARIOS)}")
    world = synthetic.WorldConfig.quick(seed=seed, image_size=image_size) if quick else \
        synthetic.WorldConfig(seed=seed, image_size=image_size)
    spec = synthetic.scenario(name, world)
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
        synthetic.generate(spec, target / "data", progress=progress)
        config = scenario_config(name, seed, image_size)
        write_config(config, target / "hni.toml")
        (target / "edits").mkdir(exist_ok=True)
        (target / ".gitignore").write_text(".hni/\nruns/\ndata/\n", encoding="utf-8")
    except BaseException:
        # Leave nothing half-made behind: a failed init is as if it never ran.
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        raise
    return Workspace(target)


def init_user(root: str | Path, data: str | Path, model: str | Path, arch: str, *, input_size: int = 224,
              feature_layer: str = "layer4", gradcam_layer: str = "layer4") -> Workspace:
    """A workspace for a user's own data (DATA/train, DATA/test) and checkpoint; both are checked now."""
    from .models import load_checkpoint

    target = Path(root)
    _fresh_target(target)
    data_root = Path(data).resolve()
    for split in ("train", "test"):
        if not (data_root / split).is_dir():
            raise DataError(f"{data_root}: expected ImageFolder splits {data_root / 'train'} and "
                            f"{data_root / 'test'}")
    classes, _ = scan_image_folder(data_root / "train")
    scan_image_folder(data_root / "test")
    model_path = Path(model).resolve()
    load_checkpoint(model_path, arch, classes)  # fails early, naming the problem
    config = HniConfig(
        model=ModelConfig(arch=arch, checkpoint=str(model_path), input_size=input_size,
                          feature_layer=feature_layer, gradcam_layer=gradcam_layer),
        data=DataConfig(train=str(data_root / "train"), test=str(data_root / "test")),
    )
    target.mkdir(parents=True, exist_ok=True)
    write_config(config, target / "hni.toml")
    (target / "edits").mkdir(exist_ok=True)
    return Workspace(target)
