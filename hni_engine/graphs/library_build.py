"""From extraction's results to what people read: the library's entries (`library.json`), each concept's
exemplar patches and its card in context (graphs.concept_cards)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hni_dsl.class_names import concept_id, concept_prefix
from hni_dsl.library import (
    ClassEntry,
    Confusion,
    ErrorAnalysis,
    Graph,
    GraphEdge,
    Library,
    PoolConcept,
)
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.deletion import METHOD
from hni_engine.discovery.errors import ConceptErrors
from hni_engine.graphs.concept_cards import CARD_MEMBERS, concept_card, place_summary
from hni_engine.graphs.edge_evidence import EdgeDrop
from hni_engine.graphs.grn import ClassGraph
from hni_engine.network.models import LoadedModel
from hni_engine.store.config import HniConfig

__all__ = ["EXEMPLARS_PER_CONCEPT", "build_library", "concept_card_of", "exemplar"]

EXEMPLARS_PER_CONCEPT = 6


def exemplar(image: np.ndarray, mask: np.ndarray, size: int = 64) -> Image.Image:
    """The segment on ACE's gray, cropped to its bounding box: what a person looks at for a concept."""
    ys, xs = np.nonzero(mask)
    filled = np.where(mask[..., None], image, np.uint8(117))
    crop = filled[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return Image.fromarray(crop).resize((size, size), Image.Resampling.NEAREST)


def concept_card_of(c: Concept, name: str, train: ImageSet, analyser: Analyser, of_images: int) -> Image.Image:
    """The concept's card: its first members in their images, where its patches sit (graphs.concept_cards)."""
    assert c.deletion is not None
    shown = []
    for image_id, seg_id in c.members[:CARD_MEMBERS]:
        masks = analyser.masks(train.images[image_id], train.digests[image_id])
        shown.append((train.images[image_id], masks[seg_id], Path(train.paths[image_id]).name))
    place = place_summary(c.centres, c.deletion.area)
    return concept_card(concept_id(name, c.key), shown, c.centres, place, c.deletion.images, of_images)


def build_library(
    names: list[str],
    classes: list[str],
    pools: dict[str, list[Concept]],
    graphs: list[ClassGraph],
    drops: dict[str, list[EdgeDrop]],
    loaded: LoadedModel,
    config: HniConfig,
    turned: dict[str, list[EdgeDrop]] | None = None,
) -> Library:
    """The library's entries; ``drops`` and ``turned`` are the edge-drop tests on the test images and on
    turned copies of them (graphs.extract), the second recorded as each edge's optional ``turned_drop``."""
    entries = []
    for name, graph in zip(names, graphs):
        concepts = pools[name]
        pool = tuple(_pool_concept(name, c) for c in concepts)
        found = {(e.src, e.dst): e for e in drops[name]}
        on_turned = {(e.src, e.dst): round(e.drop, 4) for e in (turned or {}).get(name, [])}
        edges = tuple(
            GraphEdge(
                src=s + 1,
                dst=d + 1,
                weight=round(found[(s, d)].weight, 4),
                drop=round(found[(s, d)].drop, 4),
                turned_drop=on_turned.get((s, d)),
            )
            for s, d in graph.edges
        )
        entries.append(
            ClassEntry(
                name=name,
                output_index=classes.index(name),
                pool=pool,
                graph=Graph(nodes=tuple(p.id for p in pool[: graph.n_nodes]), edges=edges),
            )
        )
    meta = {
        "model_sha256": loaded.sha256,
        "arch": loaded.arch,
        "feature_layer": config.model.feature_layer,
        "feature_mode": config.extract.feature_mode,
        "config_key": config.key(),
        "seed": config.seed,
        "importance": METHOD,
    }
    return Library(classes=tuple(entries), meta=meta)


def _errors(e: ConceptErrors | None) -> ErrorAnalysis | None:
    if e is None:
        return None
    return ErrorAnalysis(
        accuracy_with=None if e.accuracy_with is None else round(e.accuracy_with, 4),
        accuracy_without=None if e.accuracy_without is None else round(e.accuracy_without, 4),
        images_with=e.images_with,
        images_without=e.images_without,
        confusions=tuple(Confusion(true=t, predicted=p, images=n) for t, p, n in e.confusions),
    )


def _pool_concept(name: str, c: Concept) -> PoolConcept:
    """A pool concept as the library records it: deletion importance first, TCAV beside it."""
    d = c.deletion
    assert d is not None  # extraction measures every concept (discovery.importance)
    folder = f"patches/{concept_prefix(name)}"
    return PoolConcept(
        id=concept_id(name, c.key),
        importance=round(d.share, 4),
        exemplars=tuple(f"{folder}/{c.key}_{i}.png" for i in range(min(EXEMPLARS_PER_CONCEPT, len(c.members)))),
        images=c.images,
        logit_drop=round(d.logit_drop, 4),
        interval=(round(d.interval[0], 4), round(d.interval[1], 4)),
        p_value=round(d.p_value, 6),
        area=round(d.area, 4),
        place=place_summary(c.centres, d.area).text(),
        context=f"{folder}/{c.key}_context.jpg",
        stable=c.stable,
        errors=_errors(c.errors),
        tcav=round(c.tcav_score, 4),
        directional=round(c.directional, 6),
        tcav_p_value=round(c.p_value, 6),
    )
