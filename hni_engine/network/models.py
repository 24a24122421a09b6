"""The original network: any torchvision classification architecture, loaded from a checkpoint.

A checkpoint written by hni is a plain dict that carries its own model arguments and class list, so it
loads as a torchvision model with no hni import::

    ckpt = torch.load("model.pt", weights_only=True)
    model = torchvision.models.get_model(ckpt["arch"], weights=None, num_classes=len(ckpt["classes"]))
    model.load_state_dict(ckpt["state_dict"])

User checkpoints may also be a bare state dict or a whole pickled model; all are read with
``weights_only=True`` (a pickled model is accepted only if it is built from torch/torchvision modules).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torchvision
from torch import nn

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_bytes
from hni_dsl.suggest import did_you_mean
from hni_engine import formats
from hni_engine.data.images import class_difference

__all__ = [
    "CHECKPOINT_FORMAT",
    "LoadedModel",
    "ModelError",
    "SourceNetwork",
    "build_model",
    "file_sha256",
    "load_checkpoint",
    "read_network",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = formats.CHECKPOINT


class ModelError(HniError):
    """Unknown architecture, unreadable checkpoint, or a checkpoint that does not fit the data."""


@dataclass
class LoadedModel:
    model: nn.Module
    arch: str
    classes: list[str]
    sha256: str
    extra: dict[str, Any]

    def __repr__(self) -> str:
        return f"LoadedModel(arch={self.arch!r}, classes={len(self.classes)}, sha256={self.sha256[:12]})"


@dataclass
class SourceNetwork:
    """A checkpoint as it is, before it meets the data: the network with all its outputs, and the class
    names it records (None for a bare state dict or a whole model)."""

    model: nn.Module
    arch: str
    classes: list[str] | None
    outputs: int
    sha256: str
    extra: dict[str, Any]

    def __repr__(self) -> str:
        return f"SourceNetwork(arch={self.arch!r}, outputs={self.outputs}, sha256={self.sha256[:12]})"


def _classification_archs() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


def build_model(arch: str, num_classes: int) -> nn.Module:
    """An untrained torchvision classifier (no weights are ever downloaded)."""
    archs = _classification_archs()
    if arch not in archs:
        hint = did_you_mean(arch, archs, n=3, quote=repr)
        raise ModelError(f"unknown torchvision classification architecture {arch!r}{hint}")
    return cast(nn.Module, torchvision.models.get_model(arch, weights=None, num_classes=num_classes))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: nn.Module, arch: str, classes: Sequence[str], path: str | Path, **extra: Any) -> str:
    """Write atomically (temp file + rename); returns the file's sha256."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "classes": list(classes),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _module_classes() -> list[type]:
    """torch.nn and torchvision.models module classes: what a pickled torchvision model is made of."""
    found: set[type] = set()
    for namespace in (torch.nn, torch.nn.modules, torchvision.models, torchvision.ops):
        for value in vars(namespace).values():
            if isinstance(value, type) and issubclass(value, nn.Module):
                found.add(value)
    for module_name in (
        "resnet",
        "vgg",
        "densenet",
        "mobilenetv2",
        "mobilenetv3",
        "efficientnet",
        "convnext",
        "regnet",
        "squeezenet",
        "shufflenetv2",
        "alexnet",
        "googlenet",
        "inception",
        "mnasnet",
        "vision_transformer",
        "swin_transformer",
        "maxvit",
    ):
        module = getattr(torchvision.models, module_name, None)
        for value in vars(module).values() if module else ():
            if isinstance(value, type) and issubclass(value, nn.Module):
                found.add(value)
    return sorted(found, key=lambda t: (t.__module__, t.__name__))


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such checkpoint") from None
    except Exception as first:
        # A whole pickled model: allow torch/torchvision module classes only, never arbitrary code.
        import collections
        import functools

        try:
            with torch.serialization.safe_globals([*_module_classes(), collections.OrderedDict, functools.partial]):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise ModelError(f"{path}: not a readable checkpoint ({_why_unreadable(path, first)})") from None


def _why_unreadable(path: Path, error: Exception) -> str:
    """What is wrong with a file torch cannot load, in words a user can act on (not torch's internals)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    text = str(error)
    if head == b"PK\x03\x04" and ("central directory" in text or "zip archive" in text):
        return "a PyTorch archive cut short or damaged: copy the file again"
    if head[:2] not in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return "neither a torch.save archive nor a pickle"
    return f"{type(error).__name__}: {text.splitlines()[0][:200] if text else 'no detail'}"


def load_checkpoint(path: str | Path, arch: str, classes: Sequence[str]) -> LoadedModel:
    """Load a checkpoint and check it against the data's class list. Errors name the file and what differs."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: no such checkpoint (train one with `hni train`, or set model.checkpoint)")
    obj = _torch_load(p)
    sha = file_sha256(p)
    extra: dict[str, Any] = {}
    wanted = f"the data has {len(classes)} classes"
    if isinstance(obj, nn.Module):
        model, ckpt_classes, ckpt_arch = obj, None, arch
        reference = build_model(arch, len(classes)).state_dict()
        what = f"a {arch} (the model in the file is a {type(obj).__name__})"
        _check_weights(model.state_dict(), reference, path, what, wanted)
    elif isinstance(obj, dict) and "state_dict" in obj:
        ckpt_classes = _class_list(obj.get("classes"), path)
        ckpt_arch = _recorded_arch(obj, path, arch)
        if ckpt_classes is not None:
            _check_classes(ckpt_classes, classes, path)
        model = build_model(arch, len(classes))
        _load_state(model, obj["state_dict"], path, arch, wanted)
        extra = {k: v for k, v in obj.items() if k not in ("state_dict", "classes", "arch")}
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        model, ckpt_classes, ckpt_arch = build_model(arch, len(classes)), None, arch
        _load_state(model, obj, path, arch, wanted)
    else:
        raise ModelError(
            f"{path}: expected a state dict, an hni checkpoint or a whole model (got {type(obj).__name__})"
        )
    outputs = _num_outputs(model, p)
    if outputs != len(classes):
        raise ModelError(f"{path}: the model has {outputs} outputs but {wanted} ({', '.join(classes)})")
    model.eval()
    return LoadedModel(model, ckpt_arch, list(classes), sha, extra)


def read_network(path: str | Path, arch: str) -> SourceNetwork:
    """Load a checkpoint with however many outputs it has (an ImageNet classifier's 1,000, say), checking
    only that it is a ``arch``; `load_checkpoint` is the one that checks it against the data."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: no such checkpoint")
    obj = _torch_load(p)
    sha = file_sha256(p)
    extra: dict[str, Any] = {}
    classes: list[str] | None = None
    if isinstance(obj, nn.Module):
        model, outputs = obj, _num_outputs(obj, p)
        what = f"a {arch} (the model in the file is a {type(obj).__name__})"
        _check_weights(model.state_dict(), build_model(arch, outputs).state_dict(), path, what, "")
    elif isinstance(obj, dict) and "state_dict" in obj:
        classes = _class_list(obj.get("classes"), path)
        _recorded_arch(obj, path, arch)
        outputs = _state_outputs(obj["state_dict"], arch)
        model = build_model(arch, outputs)
        _load_state(model, obj["state_dict"], path, arch, "")
        extra = {k: v for k, v in obj.items() if k not in ("state_dict", "classes", "arch")}
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        outputs = _state_outputs(obj, arch)
        model = build_model(arch, outputs)
        _load_state(model, obj, path, arch, "")
    else:
        raise ModelError(
            f"{path}: expected a state dict, an hni checkpoint or a whole model (got {type(obj).__name__})"
        )
    if classes is not None and len(classes) != outputs:
        raise ModelError(f"{path}: the model has {outputs} outputs but records {len(classes)} class names")
    model.eval()
    return SourceNetwork(model, arch, classes, outputs, sha, extra)


def _state_outputs(state: Any, arch: str) -> int:
    """The number of outputs a state dict's output layer has (1 when it cannot tell: the weights' check
    that follows then names what is wrong)."""
    modules = list(build_model(arch, 1).named_modules())
    # as _num_outputs: the last nn.Linear, or the last nn.Conv2d in a network without one (SqueezeNet)
    layers = [n for n, m in modules if isinstance(m, nn.Linear)] or [n for n, m in modules if isinstance(m, nn.Conv2d)]
    if not layers:
        return 1
    weight = state.get(f"{layers[-1]}.weight") if isinstance(state, dict) else None
    return weight.shape[0] if isinstance(weight, torch.Tensor) and weight.ndim >= 1 else 1


def _recorded_arch(checkpoint: dict[str, Any], path: str | Path, arch: str) -> str:
    """The architecture an hni checkpoint records, which must be ``arch`` (an old one may record none)."""
    recorded = checkpoint.get("arch", arch)
    if not isinstance(recorded, str):
        raise ModelError(f"{path}: field 'arch' is not an architecture name (got {_shown(recorded)})")
    if recorded != arch:
        raise ModelError(f"{path}: the checkpoint is a {recorded!r}, but hni.toml names {arch!r}")
    return recorded


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _class_list(value: Any, path: str | Path) -> list[str] | None:
    """A checkpoint's `classes`: absent, or a list of distinct non-empty names."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) and c for c in value):
        raise ModelError(f"{path}: field 'classes' is not a list of class names (got {_shown(value)})")
    if len(set(value)) != len(value):
        repeated = sorted({c for c in value if value.count(c) > 1})
        raise ModelError(f"{path}: field 'classes' names {', '.join(map(repr, repeated))} more than once")
    return list(value)


def _check_classes(found: Sequence[str], classes: Sequence[str], path: str | Path) -> None:
    if list(found) == list(classes):
        return
    detail = class_difference(classes, found, "only in the data", "only in the checkpoint")
    raise ModelError(f"{path}: the checkpoint's {len(found)} classes are not the data's {len(classes)} ({detail})")


def _some(keys: Sequence[str], shown: int = 3) -> str:
    more = f", ... {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _check_weights(state: Any, expected: dict[str, Any], path: str | Path, what: str, wanted: str) -> None:
    """Refuse weights whose names or shapes are not those of ``expected`` (a model's own state dict),
    summarising the keys that differ; an output layer of another size is said as such."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ModelError(f"{path}: field 'state_dict' is not a dict of named tensors (got {type(state).__name__})")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ModelError(f"{path}: field 'state_dict' holds values that are not tensors ({_some(not_tensors)})")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"{len(missing)} missing ({_some(missing)})"] if missing else []) + (
            [f"{len(unexpected)} unexpected ({_some(unexpected)})"] if unexpected else []
        )
        raise ModelError(
            f"{path}: the weights are not those of {what}: keys {'; '.join(parts)}; "
            f"another architecture? (model.arch in hni.toml, --arch of `hni init`)"
        )
    reshaped = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if not reshaped:
        return
    if set(reshaped) <= set(list(expected)[-2:]):  # only the last layer's weight and bias: another output count
        layer = reshaped[0].rpartition(".")[0]
        raise ModelError(
            f"{path}: the checkpoint's output layer {layer} has {state[reshaped[0]].shape[0]} outputs, but {wanted}"
        )
    k = reshaped[0]
    raise ModelError(
        f"{path}: the weights are not those of {what}: {len(reshaped)} of other shapes "
        f"({k}: {list(state[k].shape)} in the file, {list(expected[k].shape)} expected)"
    )


def _load_state(model: nn.Module, state: Any, path: str | Path, arch: str, wanted: str) -> None:
    _check_weights(state, model.state_dict(), path, f"a {arch}", wanted)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()][:3]
        raise ModelError(f"{path}: the weights do not fit the architecture: {' '.join(lines)[:400]}") from None


def _num_outputs(model: nn.Module, path: Path) -> int:
    """Outputs of the last nn.Linear, or of the last nn.Conv2d in a network without one (SqueezeNet)."""
    last: nn.Linear | nn.Conv2d | None = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                last = module
    if last is None:
        raise ModelError(f"{path}: cannot find the model's output layer (no nn.Linear)")
    return last.out_features if isinstance(last, nn.Linear) else last.out_channels
