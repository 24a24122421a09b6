"""`hni init`: a new workspace, from a built-in scenario or from a user's own data and checkpoint."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from torch import nn

from hni_dsl.fileio import atomic_write_bytes
from hni_engine.data import synthetic
from hni_engine.data.images import DataError, require_classes, scan_image_folder
from hni_engine.data.split import split_image_folder
from hni_engine.network.heads import SOURCE_FORMAT, match_outputs, select_outputs
from hni_engine.network.layers import layer_warning, pick_layers
from hni_engine.network.models import ModelError, build_model, load_checkpoint, read_network, save_checkpoint
from hni_engine.store.config import (
    DataConfig,
    DistillConfig,
    ExtractConfig,
    HniConfig,
    ModelConfig,
    TrainConfig,
    write_config,
)
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["init_scenario", "init_user", "scenario_config"]

WORKSPACE_MODEL = "model/base.pt"  # a user's checkpoint is copied here (hni.toml's model.checkpoint)
WORKSPACE_SOURCE = "model/source.json"  # for a checkpoint cut to the data's classes: which file and outputs


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
    train = TrainConfig()
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
    if name == "digits" and image_size < 128:
        # The digit's strokes are a few pixels wide in a 22-32 px digit, on a photograph filling the image:
        # in a quadrant of the 2x2 `layer4` map (a `pool` feature) stroke and photograph mix, so the digit
        # and the background shortcut could not become separate concepts. As for spurious and zeroshot:
        # `layer3` and `crop` features (chosen by analogy, not yet measured on this scenario).
        model = model.model_copy(update={"gradcam_layer": "layer3"})
        extract = extract.model_copy(update={"feature_mode": "crop"})
    if name == "digits":
        # At the default 12 epochs the network learnt no digits at all, with the shortcut or without it
        # (quick world, seed 0: test accuracy 0.283 on p = 0.9 and on random backgrounds, chance 0.25). At 36
        # a network on random backgrounds (p = 0.25) learns them (0.767) and the shortcut network (p = 0.9)
        # still does not (0.333; 1.000 in training, and at test 0.091 off its class's own photograph): the
        # gap is the shortcut's, not too little training. The default world (1,200 images) is not measured.
        train = train.model_copy(update={"epochs": 36})
    return HniConfig(seed=seed, model=model, data=DataConfig(), train=train, extract=extract, distill=distill)


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
    known = (*synthetic.SCENARIOS, *synthetic.PHOTO_SCENARIOS)
    if name not in known:
        raise WorkspaceError(f"unknown scenario {name!r}; choose one of {', '.join(known)}")
    world = (
        synthetic.WorldConfig.quick(seed=seed, image_size=image_size)
        if quick
        else synthetic.WorldConfig(seed=seed, image_size=image_size)
    )
    spec: synthetic.Scenario | synthetic.PhotoScenario
    if name == "digits":
        # A quick world has few classes as well as few images: 4 digits of the 10 (synthetic.QUICK_DIGITS).
        spec = synthetic.digits(world, classes=synthetic.QUICK_DIGITS if quick else synthetic.ALL_DIGITS)
    else:
        spec = synthetic.scenario(name, world)

    def build() -> None:
        synthetic.generate(spec, target / "data", progress=progress)
        write_config(scenario_config(name, seed, image_size), target / "hni.toml")
        (target / "edits").mkdir(exist_ok=True)
        (target / ".gitignore").write_text(".hni/\nruns/\ndata/\n", encoding="utf-8")

    _whole_or_nothing(target, build)
    return Workspace(target)


def _data_layout(data_root: Path) -> str:
    """``splits`` (DATA/train and DATA/test), ``train-only`` (DATA/train alone) or ``classes`` (DATA is itself
    an ImageFolder root: DATA/<class>/<image>)."""
    if (data_root / "hni.toml").is_file():
        raise DataError(f"{data_root}: is an hni workspace, not a folder of images (its images: {data_root / 'data'})")
    if (data_root / "train").is_dir() and (data_root / "test").is_dir():
        return "splits"
    if data_root.exists() and not data_root.is_dir():
        raise DataError(f"{data_root}: is a file; --data is a folder of class folders (PATH/<class>/<image>)")
    if not data_root.is_dir():
        raise DataError(
            f"{data_root}: no such folder (expected ImageFolder splits PATH/train and PATH/test, "
            "or PATH/<class>/<image> to split)"
        )
    folders = [p.name for p in data_root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return "train-only" if folders == ["train"] else "classes"


def init_user(
    root: str | Path,
    data: str | Path,
    model: str | Path | None,
    arch: str,
    *,
    input_size: int = 224,
    feature_layer: str | None = None,
    gradcam_layer: str | None = None,
    test_fraction: float | None = None,
    seed: int = 0,
    class_index: Sequence[tuple[str, int]] = (),
) -> tuple[Workspace, list[str]]:
    """A workspace for a user's own data and, if given, a copy of their checkpoint (without one, `hni train`
    trains the network into the workspace); both are checked now.

    The data is DATA/train and DATA/test; or, with no test split (DATA/train alone, or DATA/<class>/<image>),
    split inside the workspace with ``test_fraction`` (default 0.2) and ``seed`` (hni_engine.data.split).

    A checkpoint with other outputs than the data's classes (an ImageNet classifier's 1,000) is cut to one
    output per class, in the data's class order: ``class_index`` pairs (``--class-index CLASS=INDEX``) and
    names choose the outputs (hni_engine.network.heads). The workspace then holds the cut network, with the
    source file's sha256, output count and chosen outputs in it and in model/source.json."""
    target = Path(root)
    _fresh_target(target)
    data_root = Path(data).resolve()
    if target.resolve() == data_root or data_root in target.resolve().parents:
        raise DataError(f"{target}: inside the data folder {data_root}; make the workspace outside it")
    layout = _data_layout(data_root)
    if layout == "splits" and test_fraction is not None:
        raise DataError(f"{data_root}: has a test split already ({data_root / 'test'}); drop --test-fraction")
    source = data_root / "train" if layout != "classes" else data_root
    classes, _ = scan_image_folder(source)
    require_classes(source, classes)
    if layout == "splits":
        scan_image_folder(data_root / "test")
    model_path = _weights_file(model) if model is not None else None
    if model_path is None and class_index:
        raise ModelError("--class-index names outputs of --model CKPT; give the checkpoint too")
    # A checkpoint fails early, naming the problem; its recorded normalisation goes into the config.
    # Without one, an unknown architecture is refused now, not at `hni train`.
    cut = _cut_to_classes(model_path, arch, classes, class_index, input_size) if model_path is not None else None
    loaded = load_checkpoint(model_path, arch, classes) if model_path is not None and cut is None else None
    recorded = cut.extra if cut is not None else loaded.extra if loaded is not None else {}
    network = cut.model if cut is not None else loaded.model if loaded is not None else build_model(arch, len(classes))
    feature_layer, gradcam_layer, notes = _layers(network, input_size, feature_layer, gradcam_layer)
    if cut is not None:
        notes.insert(0, _cut_note(cut))
    split = layout == "splits"
    config = HniConfig(
        seed=seed,
        model=_model_config(
            model_path or target / WORKSPACE_MODEL,
            recorded,
            arch=arch,
            checkpoint=WORKSPACE_MODEL,
            input_size=input_size,
            feature_layer=feature_layer,
            gradcam_layer=gradcam_layer,
        ),
        data=DataConfig(train=str(data_root / "train"), test=str(data_root / "test")) if split else DataConfig(),
    )

    def build() -> None:
        if not split:
            fraction = 0.2 if test_fraction is None else test_fraction
            counts = split_image_folder(source, target / "data", fraction, seed)["counts"]
            held = counts["test"] / max(1, counts["test"] + counts["train"])
            if abs(held - fraction) > 0.05:  # rounding per class (at least one test image each, never all)
                notes.append(
                    f"--test-fraction {fraction}: held out {counts['test']} of {counts['test'] + counts['train']} "
                    f"images ({held:.1%}), since each class keeps at least one test and one training image"
                )
        if cut is not None:
            _write_cut(cut, arch, classes, target)
        elif model_path is not None:
            # The workspace keeps its own copy: `hni train --force` replaces that one, never the user's file.
            atomic_write_bytes(target / WORKSPACE_MODEL, model_path.read_bytes())
        write_config(config, target / "hni.toml")
        (target / "edits").mkdir(exist_ok=True)
        (target / ".gitignore").write_text(".hni/\nruns/\n" + ("" if split else "data/\n"), encoding="utf-8")

    _whole_or_nothing(target, build)
    return Workspace(target), notes


def _weights_file(model: str | Path) -> Path:
    """The checkpoint's absolute path; a missing one is refused now, saying where it was looked for."""
    path = Path(model).expanduser().resolve()
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; --model takes the weights file itself (e.g. {path}/resnet18.pth)")
    if not path.is_file():
        raise ModelError(
            f"{path}: no such weights file; put your checkpoint (a state dict or whole model saved with "
            "torch.save) at that path, or give its path with --model (hni never downloads weights)"
        )
    return path


@dataclass
class _Cut:
    """A checkpoint cut to the data's classes: the network, and what to record about where it came from."""

    model: nn.Module
    extra: dict[str, Any]  # what the source checkpoint recorded (normalisation, input size), carried over
    source: dict[str, Any]  # provenance: written into base.pt (field `source`) and model/source.json


def _cut_to_classes(
    path: Path, arch: str, classes: list[str], class_index: Sequence[tuple[str, int]], input_size: int
) -> _Cut | None:
    """The checkpoint cut to one output per class, or None when it is to be copied as it is: no
    --class-index, and its outputs are the data's classes already (or a class list of its own, which
    `load_checkpoint` then holds to the data's, as it always has)."""
    source = read_network(path, arch)
    if not class_index and (source.classes is not None or source.outputs == len(classes)):
        return None
    matches = match_outputs(classes, source.outputs, class_index, recorded=source.classes, source=str(path))
    indices = [m.index for m in matches]
    network = select_outputs(source.model, indices, probe_size=input_size, source=str(path))
    provenance = {
        "format": SOURCE_FORMAT,
        "file": str(path),
        "sha256": source.sha256,
        "arch": arch,
        "outputs": source.outputs,
        "indices": indices,
        "classes": classes,
        "matched": [m.record() for m in matches],
    }
    extra = {k: v for k, v in source.extra.items() if k not in ("format", "source")}
    return _Cut(network, extra, provenance)


def _write_cut(cut: _Cut, arch: str, classes: list[str], target: Path) -> None:
    """model/base.pt (an ordinary hni checkpoint, its provenance in field `source`) and model/source.json."""
    sha = save_checkpoint(cut.model, arch, classes, target / WORKSPACE_MODEL, **cut.extra, source=cut.source)
    record = {**cut.source, "base_sha256": sha}
    atomic_write_bytes(target / WORKSPACE_SOURCE, (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def _cut_note(cut: _Cut) -> str:
    shown = ", ".join(f"{m['class']} = {m['output']}" for m in cut.source["matched"][:6])
    more = f", ... {len(cut.source['matched']) - 6} more" if len(cut.source["matched"]) > 6 else ""
    outputs = cut.source["outputs"]
    return f"the checkpoint's {outputs} outputs cut to the data's classes: {shown}{more} ({WORKSPACE_SOURCE})"


def _layers(
    network: nn.Module, input_size: int, feature_layer: str | None, gradcam_layer: str | None
) -> tuple[str, str, list[str]]:
    """The layers to use (those given, the others picked for the input size) and what to tell the user."""
    notes = []
    if feature_layer is None and gradcam_layer is None:
        choice = pick_layers(network, input_size)
        notes.append(f"layers for patch features and Grad-CAM: {choice.reason}")
        feature_layer, gradcam_layer = choice.feature_layer, choice.gradcam_layer
    # one layer given: the other follows it
    feature_layer = feature_layer or gradcam_layer
    gradcam_layer = gradcam_layer or feature_layer
    assert feature_layer is not None and gradcam_layer is not None
    for setting, layer in (("model.feature_layer", feature_layer), ("model.gradcam_layer", gradcam_layer)):
        warning = layer_warning(network, input_size, layer, setting=setting)
        if warning is not None:
            notes.append(f"warning: {warning}")
    return feature_layer, gradcam_layer, notes


def _whole_or_nothing(target: Path, build: Callable[[], None]) -> None:
    """Run ``build`` in ``target``; a failure (or Ctrl-C) leaves nothing half-made behind."""
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
        build()
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        raise


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
