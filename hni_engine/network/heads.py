"""A checkpoint with more outputs than the data has classes (an ImageNet classifier's 1,000 and a folder
of a few of its categories): which output each class is, and the network cut down to those outputs.

Each data class is matched to one output of the checkpoint, in this order:

1. ``--class-index CLASS=INDEX`` of `hni init`, which always wins;
2. its folder name equal to the name of an output: the checkpoint's own class list when it records one,
   else, for a network with ImageNet's 1,000 outputs, ImageNet's category names as torchvision ships them
   (e.g. ``fire engine`` is output 555, ``tabby`` 281);
3. the same, compared with `name_key`: case-insensitive, ``_`` and ``-`` read as spaces; a key that names
   two outputs (ImageNet's ``Cardigan`` the dog and ``cardigan`` the sweater) is refused as ambiguous.

WordNet ids (``n03345487``) are not matched: torchvision ships no id list for the 1,000 categories.

Then `select_outputs` keeps the rows of those outputs in the network's final ``nn.Linear`` (weight and bias),
in the data's class order, so each class's logit is exactly the one the checkpoint gave that output:

>>> import torch, torchvision
>>> net = torchvision.models.get_model("resnet18", weights=None, num_classes=1000).eval()
>>> x = torch.randn(2, 3, 32, 32)
>>> before = net(x)[:, [555, 281]]
>>> after = select_outputs(net, [555, 281], probe_size=None)(x)
>>> after.shape, bool(torch.allclose(after, before, atol=1e-5))
(torch.Size([2, 2]), True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torchvision
from torch import nn

from hni_dsl.suggest import did_you_mean
from hni_engine import formats
from hni_engine.network.models import ModelError

__all__ = [
    "IMAGENET_OUTPUTS",
    "SOURCE_FORMAT",
    "OutputMatch",
    "final_linear",
    "imagenet_categories",
    "match_outputs",
    "name_key",
    "select_outputs",
]

IMAGENET_OUTPUTS = 1000
SOURCE_FORMAT = formats.SOURCE  # model/source.json: which checkpoint, and which of its outputs, base.pt is
FLAG = "--class-index"


def imagenet_categories() -> list[str]:
    """ImageNet-1k's 1,000 category names in output order, as torchvision ships them (read from a weights
    enum's metadata, which downloads nothing).

    >>> names = imagenet_categories()
    >>> len(names), names[555], names[281]
    (1000, 'fire engine', 'tabby')
    """
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def name_key(name: str) -> str:
    """How a class name is compared with an output's name when the two are not equal.

    >>> name_key("Fire_Engine"), name_key("German  short-haired pointer")
    ('fire engine', 'german short haired pointer')
    """
    return " ".join(re.sub(r"[_-]", " ", name).casefold().split())


@dataclass(frozen=True)
class OutputMatch:
    """Which output of the checkpoint one data class is, and how that was decided."""

    cls: str
    index: int
    by: Literal["--class-index", "name"]
    name: str | None  # the output's own name (ImageNet category, checkpoint class), when it has one

    def record(self) -> dict[str, object]:
        return {"class": self.cls, "output": self.index, "by": self.by, "output_name": self.name}


def match_outputs(
    classes: Sequence[str],
    outputs: int,
    explicit: Sequence[tuple[str, int]] = (),
    *,
    recorded: Sequence[str] | None = None,
    source: str = "the checkpoint",
) -> list[OutputMatch]:
    """The output of each of ``classes`` (in their order), from ``explicit`` (``--class-index`` pairs) and
    names: ``recorded`` (the checkpoint's class list), or ImageNet's categories for 1,000 outputs.

    Refuses, in one message, every problem at once: a flag naming no class, an index out of range, a class
    given twice, a class with no output, two classes on one output. ``source`` names the file in messages.

    >>> [m.index for m in match_outputs(["Fire_Engine", "tabby"], 1000)]
    [555, 281]
    >>> [(m.index, m.by) for m in match_outputs(["a", "b"], 10, [("b", 3), ("a", 7)])]
    [(7, '--class-index'), (3, '--class-index')]
    """
    if recorded is not None and len(recorded) != outputs:
        raise ModelError(f"{source}: the model has {outputs} outputs but records {len(recorded)} class names")
    names = list(recorded) if recorded is not None else imagenet_categories() if outputs == IMAGENET_OUTPUTS else None
    problems: list[str] = []
    chosen: dict[str, OutputMatch] = {}
    for cls, index in explicit:
        given = f"{FLAG} '{cls}={index}'"
        if cls not in classes:
            hint = did_you_mean(cls, classes, quote=repr)
            problems.append(f"{given}: the data has no class {cls!r}{hint} (its classes: {_listed(classes)})")
        elif not 0 <= index < outputs:
            problems.append(f"{given}: out of range; the checkpoint has {outputs} outputs, numbered 0 to {outputs - 1}")
        elif cls in chosen and chosen[cls].index != index:
            problems.append(f"{FLAG} gives class {cls!r} twice ('{cls}={chosen[cls].index}' and '{cls}={index}')")
        else:
            chosen[cls] = OutputMatch(cls, index, "--class-index", names[index] if names else None)
    missing: list[str] = []
    by_key = _keys(names or [])
    for cls in classes:
        if cls in chosen or any(c == cls for c, _ in explicit):
            continue
        if names is not None and cls in names:
            chosen[cls] = OutputMatch(cls, names.index(cls), "name", cls)
        elif len(found := by_key.get(name_key(cls), [])) == 1:
            chosen[cls] = OutputMatch(cls, found[0], "name", names[found[0]] if names else None)
        elif found:
            assert names is not None
            problems.append(
                f"class {cls!r} could be output {_either(found, names)}; choose one with {FLAG} '{cls}=INDEX'"
            )
        else:
            missing.append(cls)
    if missing:
        problems.append(_no_output(missing, classes, outputs, names, recorded is not None, by_key))
    problems += _shared(chosen)
    if problems:
        raise ModelError(f"{source}: " + "; ".join(problems))
    return [chosen[cls] for cls in classes]


def _listed(names: Sequence[str], shown: int = 8) -> str:
    more = f", ... {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(map(repr, names[:shown])) + more


def _keys(names: Sequence[str]) -> dict[str, list[int]]:
    keys: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        keys.setdefault(name_key(name), []).append(index)
    return keys


def _either(indices: Sequence[int], names: Sequence[str]) -> str:
    return " or ".join(f"{i} ({names[i]!r})" for i in indices)


def _no_output(
    missing: Sequence[str],
    classes: Sequence[str],
    outputs: int,
    names: Sequence[str] | None,
    recorded: bool,
    by_key: dict[str, list[int]],
) -> str:
    """The classes that no flag and no name gave an output, each with the closest name, and what to do."""
    shown = []
    for cls in missing:
        hint = did_you_mean(name_key(cls), by_key, quote=lambda key: _either(by_key[key], names or []))
        shown.append(f"{cls!r}" + (f" (did you mean output {hint.removeprefix('; did you mean ')})" if hint else ""))
    if names is None:
        where = (
            f"nothing names its outputs (the file records no class list, and only a network with ImageNet's "
            f"{IMAGENET_OUTPUTS} outputs is matched by category name)"
        )
    elif recorded:
        where = "the checkpoint's class list has no such name"
    else:
        where = "no ImageNet category has such a name (compared case-insensitively, with _ and - as spaces)"
    return (
        f"the checkpoint has {outputs} outputs and the data {len(classes)} classes; no output for "
        f"{', '.join(shown)}: {where}; give each one's output with {FLAG} 'CLASS=INDEX' "
        f"(repeatable; INDEX from 0 to {outputs - 1})"
    )


def _shared(chosen: dict[str, OutputMatch]) -> list[str]:
    """Two classes on one output: their logits would be the same number, and neither could ever win."""
    on: dict[int, list[OutputMatch]] = {}
    for match in chosen.values():
        on.setdefault(match.index, []).append(match)
    return [
        f"classes {' and '.join(_how(m) for m in matches)} share output {index}; each class needs its own"
        for index, matches in sorted(on.items())
        if len(matches) > 1
    ]


def _how(match: OutputMatch) -> str:
    if match.by == "--class-index":
        return f"{match.cls!r} ({FLAG} '{match.cls}={match.index}')"
    return f"{match.cls!r} (by name)"


def final_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The network's output layer when it is an ``nn.Linear``: the last one registered (resnet ``fc``,
    mobilenet_v3 ``classifier.3``, efficientnet ``classifier.1``, convnext ``classifier.2``, vit
    ``heads.head``). `select_outputs` checks that it gives the network's logits.

    >>> final_linear(torchvision.models.get_model("mobilenet_v3_small", weights=None))[0]
    'classifier.3'
    """
    found = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not found:
        raise ModelError(
            f"a {type(model).__name__} has no final nn.Linear whose rows could be cut to the data's classes; "
            "give a checkpoint with one output per class, in the data's class order"
        )
    return found[-1]


def select_outputs(
    model: nn.Module, indices: Sequence[int], *, probe_size: int | None = 64, source: str | None = None
) -> nn.Module:
    """Cut ``model`` (in place; returned) to the outputs ``indices``, in that order: its final ``nn.Linear``
    keeps those rows of its weight and bias. With ``probe_size``, a random image of that size checks that
    the cut network's logits are the original's for those outputs (the layer really is the output layer)."""
    label = source or type(model).__name__
    try:
        name, head = final_linear(model)
    except ModelError as exc:
        raise ModelError(f"{label}: {exc}") from None
    rows = torch.as_tensor(list(indices), dtype=torch.long)
    if rows.numel() == 0 or int(rows.min()) < 0 or int(rows.max()) >= head.out_features:
        raise ModelError(f"{label}: outputs {list(indices)} are not within {name}'s {head.out_features}")
    cut = nn.Linear(head.in_features, len(rows), bias=head.bias is not None)
    cut = cut.to(device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        cut.weight.copy_(head.weight[rows])  # (K, D) of (N, D)
        if head.bias is not None:
            cut.bias.copy_(head.bias[rows])
    cut.train(head.training)
    probe = before = None
    if probe_size is not None:
        generator = torch.Generator().manual_seed(0)
        probe = torch.randn(1, 3, probe_size, probe_size, generator=generator).to(head.weight.device)
        before = _logits(model, probe, label, probe_size)
        if before.ndim != 2 or before.shape[1] != head.out_features:
            raise ModelError(f"{label}: {name} is not the network's output layer (its logits are {list(before.shape)})")
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, cut)
    if probe is not None and before is not None:
        after = _logits(model, probe, label, probe_size)
        if after.shape != (1, len(rows)) or not torch.allclose(after, before[:, rows], rtol=1e-4, atol=1e-4):
            setattr(model.get_submodule(parent) if parent else model, child, head)
            raise ModelError(
                f"{label}: {name}, the last nn.Linear, is not the network's output layer (cutting it changed the "
                "logits); give a checkpoint with one output per class, in the data's class order"
            )
    return model


def _logits(model: nn.Module, images: torch.Tensor, label: str, size: int | None) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(images)
    except Exception as exc:
        raise ModelError(
            f"{label}: the network does not run on {size} px images ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"{label}: the network's output is a {type(out).__name__}, not a tensor of logits")
    return out
