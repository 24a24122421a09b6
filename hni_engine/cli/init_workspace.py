"""`hni init`: a new workspace, from a built-in scenario or from a user's own data and checkpoint."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hni_dsl.fileio import atomic_write_bytes
from hni_engine.data import synthetic
from hni_engine.data.images import DataError, require_classes, scan_image_folder
from hni_engine.network.models import ModelError, load_checkpoint
from hni_engine.store.config import DataConfig, DistillConfig, ExtractConfig, HniConfig, ModelConfig, write_config
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["init_scenario", "init_user", "scenario_config"]

WORKSPACE_MODEL = "model/base.pt"  # a user's checkpoint is copied here (hni.toml's model.checkpoint)


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


def init_scenario(
    root: str | Path,
    name: str,
    *,
    seed: int = 0,
    quick: bool = False,
    image_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> Workspace:
    """A workspace with a built-in synthetic scenario's data and a config for it."""
    target = Path(root)
    _fresh_target(target)
    if name not in synthetic.SCENARIOS:
        raise WorkspaceError(f"unknown scenario {name!r}; choose one of {', '.join(synthetic.SCENARIOS)}")
    world = (
        synthetic.WorldConfig.quick(seed=seed, image_size=image_size)
        if quick
        else synthetic.WorldConfig(seed=seed, image_size=image_size)
    )
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


def init_user(
    root: str | Path,
    data: str | Path,
    model: str | Path,
    arch: str,
    *,
    input_size: int = 224,
    feature_layer: str = "layer4",
    gradcam_layer: str = "layer4",
) -> Workspace:
    """A workspace for a user's own data (DATA/train, DATA/test) and a copy of their checkpoint; both are
    checked now."""
    target = Path(root)
    _fresh_target(target)
    data_root = Path(data).resolve()
    for split in ("train", "test"):
        if not (data_root / split).is_dir():
            raise DataError(f"{data_root}: expected ImageFolder splits {data_root / 'train'} and {data_root / 'test'}")
    classes, _ = scan_image_folder(data_root / "train")
    require_classes(data_root / "train", classes)
    scan_image_folder(data_root / "test")
    model_path = Path(model).resolve()
    loaded = load_checkpoint(model_path, arch, classes)  # fails early, naming the problem
    config = HniConfig(
        model=_model_config(
            model_path,
            loaded.extra,
            arch=arch,
            checkpoint=WORKSPACE_MODEL,
            input_size=input_size,
            feature_layer=feature_layer,
            gradcam_layer=gradcam_layer,
        ),
        data=DataConfig(train=str(data_root / "train"), test=str(data_root / "test")),
    )
    target.mkdir(parents=True, exist_ok=True)
    # The workspace keeps its own copy: `hni train --force` replaces that one, never the user's file.
    atomic_write_bytes(target / WORKSPACE_MODEL, model_path.read_bytes())
    write_config(config, target / "hni.toml")
    (target / "edits").mkdir(exist_ok=True)
    return Workspace(target)


def _model_config(path: Path, recorded: dict[str, Any], **given: Any) -> ModelConfig:
    """The model section for a user's checkpoint: what the user gave, and the normalisation an hni
    checkpoint records (its `mean` and `std`); an input size other than the one it records is refused."""
    trained_at = recorded.get("input_size")
    if type(trained_at) is int and trained_at != given["input_size"]:
        raise ModelError(
            f"{path}: the network was trained on {trained_at} px images (its input_size), "
            f"but --input-size is {given['input_size']}; give --input-size {trained_at}"
        )
    normalisation: dict[str, Any] = {
        k: tuple(v) for k, v in recorded.items() if k in ("mean", "std") and isinstance(v, list)
    }
    try:
        return ModelConfig(**given, **normalisation)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ModelError(f"{path}: field {key!r}: {first['msg']} (got {first.get('input')!r})") from None
