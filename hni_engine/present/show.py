"""`hni show`: a class's c-SCG, numbered as edit scripts number it, or its ranked pool, as text."""

from __future__ import annotations

import json

from hni_dsl import load_library
from hni_dsl.checker import concept_origin
from hni_dsl.errors import HniError
from hni_dsl.library import ClassEntry, Library
from hni_dsl.suggest import did_you_mean
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.runs import current_library_path

__all__ = ["class_entry", "current_library", "show_text"]


def current_library(layout: Layout) -> Library:
    """The current library: the HEAD run's once edits were applied, else the extraction's."""
    path = current_library_path(layout)
    if not path.exists():
        raise WorkspaceError(f"{path}: no concept library yet (run `hni extract`)")
    return load_library(path)


def class_entry(library: Library, name: str) -> ClassEntry:
    """The library's entry for class ``name``; an unknown name is an error with a did-you-mean."""
    entry = library.get(name)
    if entry is None:
        hint = did_you_mean(name, library.class_names, quote=repr) or f"; classes: {', '.join(library.class_names)}"
        raise HniError(f"unknown class {name!r}{hint}")
    return entry


def show_text(library: Library, entry: ClassEntry, pool: bool) -> None:
    slots = {concept: i for i, concept in enumerate(entry.graph.nodes, start=1)}
    if pool:
        print(f"{entry.name}: pool of {len(entry.pool)} concepts, ranked by importance (`pool[N]` in edit scripts)")
        for rank, concept in enumerate(entry.pool, start=1):
            extra = [f"importance {concept.importance:.3f}"]
            if concept.directional is not None:
                extra.append(f"dd {concept.directional:+.3g}")
            if concept.p_value is not None:
                extra.append(f"p {concept.p_value:.3f}")
            if concept.images is not None:
                extra.append(f"in {concept.images} images")
            label = f" {json.dumps(concept.label)}" if concept.label else ""
            node_note = f"  = concept {slots[concept.id]}" if concept.id in slots else ""
            print(f"  pool[{rank}]".ljust(11) + f"{concept.id}{label}  " + ", ".join(extra) + node_note)
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
        print("  edges (learnt weight e_ji):")
        for edge in sorted(
            entry.graph.edges, key=lambda e: (-(abs(e.weight) if e.weight is not None else -1), e.src, e.dst)
        ):
            weight = f"{edge.weight:+.3f}" if edge.weight is not None else "(not learnt yet)"
            print(f"    {edge.src}->{edge.dst}  {weight}")
    else:
        print("  no edges")
