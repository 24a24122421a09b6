"""ORACLE: the example edit script of each built-in scenario, written from the generator's ground truth.

No command a user runs on their own data calls this; the demos and benchmarks do, and say so.

Slot and pool numbers exist only after extraction, so a fixed script cannot fit every seed. A reviewer
looks at each concept's exemplar patches and decides what it shows; here the scenario's ground truth
(the part and context boxes in `data/metadata.jsonl`) stands in for the reviewer's eyes: a concept shows
what most of its member patches sit on. The scripts then make the paper's edits:

- spurious (HNI 4.1.1): in each class trained with a context object, replace every c-SCG concept that
  shows the context or background by the best-ranked pool concept that shows one of the class's parts,
  then forbid every pool concept that shows the context (the network relies on those outside its c-SCG
  too);
- digits (HNI 4.1.1 with real images): the spurious script, each class's own background photograph
  playing the context object's part (the records mark the digit as the class's one part and the
  photograph as a context filling the image, so a concept off the digit's box shows the photograph);
- posebias (HNI 4.1.2): drop every edge of every class (the relations encode the training pose), and
  keep only the concepts of the part that tells a class apart where it has them (a shared part turns
  with the pose, so its concepts encode the pose too);
- zeroshot (HNI 4.2): define each unseen class from the concepts showing the named parts (where the named
  class has none, another seen class with the same part), edges like the class whose layout it borrows;
  first, that class's leading slots are set to concepts of its own parts in layout order, since a defined
  class's parts are placed where those slots are matched.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

import torch

from hni_dsl import check, parse
from hni_dsl.formatter import format_class_name
from hni_dsl.library import Library
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["ConceptLabels", "concept_labels", "oracle_names", "oracle_script"]

CONTEXT, BACKGROUND, MIXED = "<context>", "<background>", "<mixed>"


class ConceptLabels(dict[str, str]):
    """concept id -> what its member patches show: a part name, CONTEXT, BACKGROUND or MIXED."""


def _relative(path: str) -> str:
    parts = Path(path).parts
    anchor = len(parts) - 1 - parts[::-1].index("data") if "data" in parts else -1
    return "/".join(parts[anchor + 1 :])


def concept_labels(ws: Workspace, majority: float = 0.5) -> ConceptLabels:
    """Label each pool concept by where the centres of its member patches fall (metadata boxes)."""
    manifest_path = ws.root / "data" / "scenario.json"
    if not manifest_path.is_file():
        raise WorkspaceError(f"{manifest_path}: missing; oracle scripts exist only for built-in scenarios")
    size = json.loads(manifest_path.read_text())["image_size"]
    records = {}
    for line in (ws.root / "data" / "metadata.jsonl").read_text().splitlines():
        record = json.loads(line)
        records[record["file"]] = record
    members = torch.load(ws.anchors_path, weights_only=True)["members"]
    labels = ConceptLabels()
    for concept_id, rows in members.items():
        votes: Counter[str] = Counter()
        for path, x0, y0, x1, y1 in rows:
            record = records.get(_relative(path))
            if record is None:
                continue
            cx, cy = (x0 + x1) / 2 * size, (y0 + y1) / 2 * size

            def inside(box: list[float], cx: float = cx, cy: float = cy) -> bool:
                return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]

            hits = [p for p in record["parts"] if inside(p["box"])]
            if hits:  # the smallest box holding the centre: a small part drawn over a large one
                votes[min(hits, key=lambda p: (p["box"][2] - p["box"][0]) * (p["box"][3] - p["box"][1]))["part"]] += 1
            elif record.get("context") and inside(record["context"]["box"]):
                votes[CONTEXT] += 1
            else:
                votes[BACKGROUND] += 1
        top, count = votes.most_common(1)[0] if votes else (MIXED, 0)
        labels[concept_id] = top if count >= majority * max(1, sum(votes.values())) else MIXED
    return labels


def oracle_names(ws: Workspace, library: Library) -> dict[str, str]:
    """ORACLE: a name for each c-SCG concept, from what its patches show in the ground truth, marked as the
    oracle's (the demo's stand-in for a reviewer who names concepts from their exemplars with `hni name`)."""
    labels = concept_labels(ws)
    photos = json.loads((ws.root / "data" / "scenario.json").read_text()).get("kind") == "photos"
    shown = {CONTEXT: "background photograph" if photos else "context object", BACKGROUND: "background"}
    out = {}
    for entry in library.classes:
        for cid in entry.graph.nodes:
            label = labels.get(cid, MIXED)
            if label != MIXED:
                out[cid] = f"{shown.get(label, label.replace('_', ' '))} (oracle)"
    return out


def _shortcuts(manifest: dict[str, Any]) -> dict[str, str]:
    """class -> the context it was trained with: spurious's context objects, or (digits) every class's
    own background photograph."""
    if manifest.get("kind") == "photos":
        return {name: c["background"] for name, c in manifest["classes"].items()}
    return dict(manifest.get("context", {}).get("objects", {}))


def _spurious(library: Library, labels: ConceptLabels, manifest: dict[str, Any]) -> list[str]:
    lines = []
    parts_of = {name: set(c["parts"]) for name, c in manifest["classes"].items()}
    for name in _shortcuts(manifest):
        entry = library.get(name)
        if entry is None:
            continue
        nodes = list(entry.graph.nodes)
        # The context first (the shortcut), then background, then patches that show nothing in particular.
        order: dict[str | None, int] = {CONTEXT: 0, BACKGROUND: 1, MIXED: 2}
        bad = sorted(
            (i for i, cid in enumerate(nodes, start=1) if labels.get(cid) in order),
            key=lambda i: (order[labels.get(nodes[i - 1])], i),
        )
        genuine = [
            rank
            for rank, c in enumerate(entry.pool, start=1)
            if labels.get(c.id) in parts_of[name] and c.id not in nodes
        ]
        edits = [f"replace concept {slot} with pool[{rank}]" for slot, rank in sorted(zip(bad, genuine))]
        shown = ", ".join(f"{slot}: {labels.get(nodes[slot - 1])}" for slot in bad) or "none"
        lines.append(f"# {name}: context/background concepts {shown}")
        if edits:
            lines.append(f"class {format_class_name(name)}: " + "; ".join(edits))
        # The context object splits into several concepts, most of them outside the c-SCG: the network
        # uses them all, so the class is forbidden every one (after the replacements, by pool rank).
        context = [rank for rank, c in enumerate(entry.pool, start=1) if labels.get(c.id) == CONTEXT]
        if context:
            lines.append(f"# {name}: pool concepts showing its context: {', '.join(map(str, context))}")
            lines.append(f"class {format_class_name(name)}: " + "; ".join(f"forbid pool[{r}]" for r in context))
    return lines


def _posebias(library: Library, labels: ConceptLabels, manifest: dict[str, Any]) -> list[str]:
    """Drop every edge; where a class has concepts of the part only it has, keep those nodes alone.

    The pose turns the whole layout, so a concept of a shared part (the body, the wheel) is that part at
    the class's one training angle: it carries the pose as much as the edges do. A class's own part looks
    the same in every pose, so its concepts replace the other slots, and slots left over are dropped."""
    parts_of = {name: set(c["parts"]) for name, c in manifest["classes"].items()}
    lines = []
    for entry in library.classes:
        others = set().union(*(parts for name, parts in parts_of.items() if name != entry.name))
        own = parts_of.get(entry.name, set()) - others
        nodes = list(entry.graph.nodes)
        keep = [slot for slot, cid in enumerate(nodes, start=1) if labels.get(cid) in own]
        spare = [rank for rank, c in enumerate(entry.pool, start=1) if labels.get(c.id) in own and c.id not in nodes]
        edits = []
        if keep or spare:
            rest = [slot for slot in range(1, len(nodes) + 1) if slot not in keep]
            edits += [f"replace concept {slot} with pool[{rank}]" for slot, rank in zip(rest, spare)]
            edits += [f"drop concept {slot}" for slot in rest[len(spare) :]]
            lines.append(
                f"# {entry.name}: its {', '.join(sorted(own))} tells it apart in every pose; only concepts of that stay"
            )
        else:
            lines.append(
                f"# {entry.name}: no concept shows {', '.join(sorted(own)) or 'a part of its own'}; its nodes stay"
            )
        if entry.graph.edges:
            edits.append("drop edges *")
        if edits:
            lines.append(f"class {format_class_name(entry.name)}: " + "; ".join(edits))
    return lines


def _reference(library: Library, labels: ConceptLabels, source: str, part: str) -> str | None:
    entry = library.get(source)
    if entry is None:
        return None
    for slot, cid in enumerate(entry.graph.nodes, start=1):
        if labels.get(cid) == part:
            return f"{format_class_name(source)}.c{slot}"
    for rank, concept in enumerate(entry.pool, start=1):
        if labels.get(concept.id) == part:
            return f"{format_class_name(source)}.pool[{rank}]"
    return None


def _with_part(manifest: dict[str, Any], source: str, part: str) -> list[str]:
    """``source``, then every other seen class that has ``part`` (it looks the same wherever it sits)."""
    return [
        source,
        *sorted(
            n
            for n, c in manifest.get("classes", {}).items()
            if n != source and c.get("seen", True) and part in c.get("parts", ())
        ),
    ]


def _part_reference(
    library: Library, labels: ConceptLabels, source: str, part: str, manifest: dict[str, Any]
) -> tuple[str | None, str | None]:
    """A concept showing ``part``: the named class's first, else another seen class's with the same part.
    Returns (reference, the class it came from)."""
    for name in _with_part(manifest, source, part):
        ref = _reference(library, labels, name, part)
        if ref is not None:
            return ref, name
    return None, None


def _pool_reference(library: Library, owner: str, concept_id: str) -> str | None:
    """``pool[N]`` in ``owner``'s own pool, else ``OTHER.pool[N]``."""
    entries = sorted(library.classes, key=lambda e: e.name != owner)  # the owner first
    for entry in entries:
        for rank, concept in enumerate(entry.pool, start=1):
            if concept.id == concept_id:
                return f"pool[{rank}]" if entry.name == owner else f"{format_class_name(entry.name)}.pool[{rank}]"
    return None


def _layout_slots(library: Library, labels: ConceptLabels, manifest: dict[str, Any]) -> tuple[list[str], Library]:
    """Put each `edges like` class's parts into its first slots, in its layout's order.

    A defined class's part i sits where the like class's slot i was matched (DSL.md), so those slots
    must show the like class's parts in the order the layout places them; a slot showing background
    would put the part at a random spot. Concepts are swapped within the c-SCG where it has them, else
    taken from its pool, else from another seen class showing the same part. Returns the script lines
    and the library they leave."""
    lines: list[str] = []
    needed: dict[str, int] = {}
    for comp in manifest.get("compositions", {}).values():
        like = comp["layout_from"]
        needed[like] = max(needed.get(like, 0), len(comp["parts"]))
    for like, m in needed.items():
        entry = library.get(like)
        parts = manifest.get("classes", {}).get(like, {}).get("parts", [])[:m]
        if entry is None or len(entry.graph.nodes) < m:
            continue
        nodes = list(entry.graph.nodes)
        chosen: list[str | None] = []
        for slot, part in enumerate(parts):
            pools = [c.id for d in _with_part(manifest, like, part) if (e := library.get(d)) for c in e.pool]
            candidates = [nodes[slot], *nodes, *pools]
            chosen.append(next((c for c in candidates if labels.get(c) == part and c not in chosen), None))
        rest = iter(c for c in nodes if c not in chosen)  # a part nothing shows keeps a concept of the class
        first = [c if c is not None else next(rest) for c in chosen]
        final = (first + [c for c in nodes if c not in first])[: len(nodes)]
        edits = [
            f"replace concept {slot} with {_pool_reference(library, like, cid)}"
            for slot, (cid, old) in enumerate(zip(final, nodes), start=1)
            if cid != old
        ]
        if not edits:
            continue
        missing = [p for p, c in zip(parts, chosen) if c is None]
        lines.append(
            f"# {like}: slots 1-{m} show its parts in layout order ({', '.join(parts)})"
            + (f"; no concept shows {', '.join(missing)}" if missing else "")
        )
        lines.append(f"class {format_class_name(like)}: " + "; ".join(edits))
    if not lines:
        return lines, library
    result = check(parse("\n".join(lines) + "\n"), library)
    if not result.ok:  # a slot fix the language refuses is left out rather than breaking the script
        return [], library
    return lines, result.library_after


def _zeroshot(library: Library, labels: ConceptLabels, manifest: dict[str, Any]) -> list[str]:
    lines, library = _layout_slots(library, labels, manifest)
    for name, comp in manifest.get("compositions", {}).items():
        found = [_part_reference(library, labels, p["class"], p["part"], manifest) for p in comp["parts"]]
        refs = [ref for ref, _ in found]
        missing = [p["part"] for p, r in zip(comp["parts"], refs) if r is None]
        if missing:
            lines.append(f"# {name}: no concept shows {', '.join(missing)}; not defined")
            continue
        for p, (_, owner) in zip(comp["parts"], found):
            if owner != p["class"]:
                lines.append(f"# {name}: no concept of {p['class']} shows {p['part']}; {owner}'s does")
        lines.append(
            f"define class {format_class_name(name)} from {', '.join(cast(list[str], refs))}, "
            f"edges like {format_class_name(comp['layout_from'])}"
        )
    return lines


def oracle_script(ws: Workspace, library: Library) -> str:
    """The ORACLE's edit script for this workspace's extracted library: written from the generator's labels."""
    manifest = json.loads((ws.root / "data" / "scenario.json").read_text())
    scenario = manifest.get("scenario")
    header = [
        f"# {scenario}: the ORACLE's edits, written from the generator's labels (data/metadata.jsonl: what",
        "# each concept's member patches show; hni_engine.oracle), which a user does not have.",
    ]
    if scenario == "posebias":
        body = [
            "# The relations between parts encode the single training pose of each class: drop them.",
            *_posebias(library, concept_labels(ws), manifest),
        ]
    elif scenario == "spurious":
        body = _spurious(library, concept_labels(ws), manifest)
    elif scenario == "digits":
        body = [
            "# Each digit was trained mostly on its own background photograph: that photograph is its context.",
            *_spurious(library, concept_labels(ws), manifest),
        ]
    elif scenario == "zeroshot":
        body = _zeroshot(library, concept_labels(ws), manifest)
    else:
        raise WorkspaceError(f"{ws.root}: scenario {scenario!r} has no oracle script")
    return "\n".join(header + body) + "\n"
