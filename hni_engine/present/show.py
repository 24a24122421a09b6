"""`hni show`: a class's c-SCG, numbered as edit scripts number it, or its ranked pool, as text."""

from __future__ import annotations

import json
from statistics import median

from hni_dsl import load_library
from hni_dsl.checker import concept_origin
from hni_dsl.errors import HniError
from hni_dsl.escape import escape
from hni_dsl.library import ClassEntry, ErrorAnalysis, Library, PoolConcept
from hni_dsl.suggest import did_you_mean
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.names import load_names, with_names
from hni_engine.store.runs import current_library_path

__all__ = ["class_entry", "current_library", "show_text"]


def current_library(layout: Layout) -> Library:
    """The current library: the HEAD run's once edits were applied, else the extraction's; with the
    workspace's names (names.txt) as labels."""
    path = current_library_path(layout)
    if not path.exists():
        raise WorkspaceError(f"{path}: no concept library yet (run `hni extract`)")
    return with_names(load_library(path), load_names(layout.root))


def class_entry(library: Library, name: str) -> ClassEntry:
    """The library's entry for class ``name``; an unknown name is an error with a did-you-mean."""
    entry = library.get(name)
    if entry is None:
        hint = did_you_mean(name, library.class_names, quote=repr) or f"; classes: {', '.join(library.class_names)}"
        raise HniError(f"unknown class {name!r}{hint}")
    return entry


def importance_text(concept: PoolConcept) -> str:
    """ "importance 0.312 (logit drop +1.20 [+0.85, +1.61])": the share of the class's evidence, and the
    measured drop with its interval where the library has them."""
    text = f"importance {concept.importance:.3f}"
    if concept.logit_drop is not None:
        text += f" (logit drop {concept.logit_drop:+.2f}"
        if concept.interval is not None:
            text += f" [{concept.interval[0]:+.2f}, {concept.interval[1]:+.2f}]"
        text += ")"
    return text


def _accuracy(value: float | None, images: int) -> str:
    return f"{'-' if value is None else f'{value:.2f}'} on {images} test images"


def errors_text(e: ErrorAnalysis) -> str:
    """ "network accuracy 0.62 on 21 test images with it, 0.97 on 159 without; confused: jeep->ambulance (3)"."""
    text = (
        f"network accuracy {_accuracy(e.accuracy_with, e.images_with)} with it, "
        f"{_accuracy(e.accuracy_without, e.images_without)} without"
    )
    if e.confusions:
        text += "; confused: " + ", ".join(
            f"{escape(c.true)}->{escape(c.predicted)} ({c.images})" for c in e.confusions
        )
    return text


def p_text(p: float) -> str:
    """ "p 0.012", or "p < 0.001" where three decimals would show 0."""
    return "p < 0.001" if p < 0.0005 else f"p {p:.3f}"


def show_text(library: Library, entry: ClassEntry, pool: bool) -> None:
    slots = {concept: i for i, concept in enumerate(entry.graph.nodes, start=1)}
    if pool:
        print(f"{entry.name}: pool of {len(entry.pool)} concepts, ranked by importance (`pool[N]` in edit scripts)")
        for rank, concept in enumerate(entry.pool, start=1):
            extra = [importance_text(concept)]
            if concept.p_value is not None:
                extra.append(p_text(concept.p_value))
            if concept.area is not None:
                extra.append(f"patch {concept.area:.1%} of its image")
            if concept.place is not None:
                extra.append(f"sits {escape(concept.place)}")
            if concept.stable is not None:
                extra.append("stable across seeds" if concept.stable else "not found with another seed")
            if concept.tcav is not None:
                extra.append(f"tcav {concept.tcav:.2f}")
            if concept.images is not None:
                extra.append(f"in {concept.images} images")
            label = f" {json.dumps(concept.label)}" if concept.label else ""
            node_note = f"  = concept {slots[concept.id]}" if concept.id in slots else ""
            print(f"  pool[{rank}]".ljust(11) + f"{concept.id}{label}  " + ", ".join(extra) + node_note)
            if concept.errors is not None:
                print(" " * 11 + errors_text(concept.errors))
        return
    print(
        f"{entry.name}: c-SCG with {len(entry.graph.nodes)} concepts and {len(entry.graph.edges)} edges"
        + (f" (network output {entry.output_index})" if entry.output_index is not None else " (defined)")
    )
    for slot, concept_id in enumerate(entry.graph.nodes, start=1):
        where = concept_origin(library, entry, concept_id)
        known = library.concept(concept_id)
        label = f" {json.dumps(known.label)}" if known and known.label else ""
        print(f"  concept {slot}  {concept_id}{label}  ({where})")
    if entry.graph.edges:
        has_drop = any(e.drop is not None for e in entry.graph.edges)
        print("  edges (learnt weight e_ji" + ("; drop of the class's GRN score when removed):" if has_drop else "):"))
        for edge in sorted(
            entry.graph.edges, key=lambda e: (-(abs(e.weight) if e.weight is not None else -1), e.src, e.dst)
        ):
            weight = f"{edge.weight:+.3f}" if edge.weight is not None else "(not learnt yet)"
            drop = f"  drop {edge.drop:+.3f}" if edge.drop is not None else ""
            print(f"    {edge.src}->{edge.dst}  {weight}{drop}")
        weights = [abs(e.weight) for e in entry.graph.edges if e.weight is not None]
        if len(weights) > 1:
            print(f"  |e_ji|: min {min(weights):.3f}, median {median(weights):.3f}, max {max(weights):.3f}")
    else:
        print("  no edges")
