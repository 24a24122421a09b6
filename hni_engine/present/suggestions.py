"""What `hni suggest` proposes, from the evidence a reviewer reads and nothing else: the library's numbers
(deletion importance and its p-value, stability, per-concept errors) and the trained network's test
results (`model/base.json`). No detector reads the data's metadata or knows which scenario made it.

Each detector is one function from evidence to findings; a finding says what it saw, in numbers, how
sure it is, and which edit it proposes (a statement, or none when it only informs). Confidence decides how
the statement is written: `high` and `medium` as statements, `low` commented out for the reviewer to
take or leave (hni_engine.present.suggest_script).

- **spurious**: a concept the class relies on (it raises the class logit, significantly) that goes with
  the network's mistakes: among the test images that hold it, many are other classes' images the
  network calls this class. A part of the object would mostly sit in the class's own, rightly called
  images; a background or context that other classes' images share drags them to the class.
- **shortcut**: a concept the class relies on that is pinned to one place in its images (most of its
  patches in one off-centre ninth of the image, the library's ``place``), or whose erasure takes far more
  of the class's evidence than its area would explain (``importance`` over ``area``, against the class's
  other significant concepts). A fixed marker or watermark is both; an object part is neither.
- **layout** (hni_engine.present.suggest_layout): c-SCG edges whose edge-drop test changes direction or
  size on turned, mirrored copies of the test images (each edge's ``drop`` against its ``turned_drop``):
  the class reads how its concepts are arranged, i.e. the pose.
- **unstable**: a c-SCG concept that a second discovery (seed + 1) did not find again; a stable,
  significant pool concept can take its slot.
- **weak**: a class the network gets wrong on many test images, with the class it takes it for. It
  informs; it proposes no statement.
- **define**: the parts of a new class, each the best stable, significant concept of a named class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

from hni_dsl.formatter import format_class_name
from hni_dsl.library import ClassEntry, Library, PoolConcept

__all__ = [
    "SIGNIFICANT",
    "Finding",
    "defined_class",
    "false_share",
    "shortcut_concepts",
    "spurious_concepts",
    "unstable_concepts",
    "weak_classes",
]

SIGNIFICANT = 0.05  # a concept's corrected p-value below this: it carries the class's evidence
SPURIOUS_HIGH, SPURIOUS_MEDIUM = 0.5, 0.3  # share of a concept's test images the network wrongly calls its class
MIN_IMAGES = 5  # test images holding a concept before its errors say anything
WEAK = 0.6  # test accuracy below which a class is called weak
# A concept is pinned when this share of its patches sits in one ninth of the image (not the centre, where
# a centred object's parts sit too).
PINNED = 0.8
# Evidence density: the share of the class's evidence a concept carries over the share of the image it
# covers. Evidence spread evenly over the image gives 1; over an object filling a tenth of it, 10. A
# shortcut is denser than that and RELATIVE times denser than the median of the class's significant concepts.
DENSE, RELATIVE = 10.0, 3.0


@dataclass
class Finding:
    detector: str  # spurious, shortcut, layout, unstable, weak, define
    class_name: str
    reason: str  # the evidence, in numbers
    confidence: str  # high, medium, low
    statement: str | None = None  # the edit, in the language (inside `class X:` unless it is a definition)
    concepts: list[str] = field(default_factory=list)  # the concept ids it is about (for pictures)


def false_share(concept: PoolConcept, class_name: str) -> tuple[float, int] | None:
    """Of the test images holding ``concept``, the share that are another class's images the network calls
    ``class_name``, and how many images hold it; None without error analysis."""
    errors = concept.errors
    if errors is None or errors.images_with == 0:
        return None
    wrong = sum(c.images for c in errors.confusions if c.predicted == class_name and c.true != class_name)
    return wrong / errors.images_with, errors.images_with


def _relied_on(concept: PoolConcept) -> bool:
    return (concept.logit_drop or 0.0) > 0 and concept.p_value is not None and concept.p_value < SIGNIFICANT


def _numbers(concept: PoolConcept) -> str:
    parts = []
    if concept.logit_drop is not None:
        parts.append(f"erasing it drops the logit by {concept.logit_drop:+.2f}")
        if concept.interval is not None:
            parts[-1] += f" [{concept.interval[0]:+.2f}, {concept.interval[1]:+.2f}]"
    if concept.p_value is not None:
        parts.append(f"p = {concept.p_value:.3g}")
    if concept.place:
        parts.append(f"sits {concept.place}")
    if concept.stable is not None:
        parts.append("stable" if concept.stable else "not stable")
    return ", ".join(parts)


def _spurious_ids(entry: ClassEntry) -> dict[str, tuple[str, float, int]]:
    """concept id -> (confidence, false share, images) for each of the class's spurious-looking concepts."""
    out = {}
    for concept in entry.pool:
        found = false_share(concept, entry.name)
        if found is None or not _relied_on(concept):
            continue
        share, images = found
        if share >= SPURIOUS_HIGH and images >= 2 * MIN_IMAGES:
            out[concept.id] = ("high", share, images)
        elif share >= SPURIOUS_MEDIUM and images >= MIN_IMAGES:
            out[concept.id] = ("medium", share, images)
        elif share >= SPURIOUS_MEDIUM:
            out[concept.id] = ("low", share, images)
    return out


def _replacement(entry: ClassEntry, avoid: set[str]) -> tuple[int, PoolConcept] | None:
    """The best-ranked pool concept (1-based rank) the class relies on, stable where known, not in ``avoid``."""
    for rank, concept in enumerate(entry.pool, start=1):
        if concept.id in avoid or concept.id in entry.graph.nodes or concept.id in entry.forbidden:
            continue
        if _relied_on(concept) and concept.stable is not False:
            return rank, concept
    return None


def spurious_concepts(entry: ClassEntry) -> list[Finding]:
    """Concepts that go with the network's mistakes: each is forbidden, and one in the c-SCG first gives its
    slot to the best pool concept that does not (`replace`, then `forbid`)."""
    flagged = _spurious_ids(entry)
    reasons = {
        cid: (
            confidence,
            f"{share:.0%} of the {images} test images holding it are other classes' images the network calls "
            f"{entry.name}",
        )
        for cid, (confidence, share, images) in flagged.items()
    }
    return _replace_then_forbid("spurious", entry, reasons, set(flagged))


def _replace_then_forbid(
    detector: str, entry: ClassEntry, flagged: Mapping[str, tuple[str, str]], taken: set[str]
) -> list[Finding]:
    """For each flagged concept (id -> (confidence, what was seen)): in the c-SCG, a replacement by the best
    pool concept not ``taken``; then `forbid`, so that distillation removes it."""
    out = []
    slots = {cid: i for i, cid in enumerate(entry.graph.nodes, start=1)}
    for cid, (confidence, seen) in flagged.items():
        concept = next(c for c in entry.pool if c.id == cid)
        rank = entry.pool_rank(cid)
        reason = f"{cid} (pool[{rank}]): {seen}; {_numbers(concept)}"
        if cid in slots:
            swap = _replacement(entry, taken)
            if swap is not None:
                taken.add(swap[1].id)
                out.append(
                    Finding(
                        detector,
                        entry.name,
                        reason + f"; pool[{swap[0]}] ({swap[1].id}) takes its slot: {_numbers(swap[1])}",
                        confidence,
                        f"replace concept {slots[cid]} with pool[{swap[0]}]",
                        [cid, swap[1].id],
                    )
                )
        out.append(Finding(detector, entry.name, reason, confidence, f"forbid pool[{rank}]", [cid]))
    return out


def unstable_concepts(entry: ClassEntry, avoid: Set[str] = frozenset()) -> list[Finding]:
    """c-SCG concepts a second discovery did not find again, each with a stable replacement if there is one."""
    out = []
    taken = set(avoid)
    for slot, cid in enumerate(entry.graph.nodes, start=1):
        concept = next((c for c in entry.pool if c.id == cid), None)
        if concept is None or concept.stable is not False or cid in avoid:
            continue
        swap = _replacement(entry, taken)
        reason = f"concept {slot} ({cid}) was not found again by a second discovery; {_numbers(concept)}"
        if swap is None:
            reason += "; no stable, significant pool concept to take its slot"
            out.append(Finding("unstable", entry.name, reason, "low", None, [cid]))
            continue
        taken.add(swap[1].id)
        # a stable replacement that carries at least as much evidence is a clear gain; a weaker one is a guess
        weaker = (swap[1].logit_drop or 0.0) < 0.5 * (concept.logit_drop or 0.0)
        out.append(
            Finding(
                "unstable",
                entry.name,
                reason + f"; pool[{swap[0]}] ({swap[1].id}) is stable: {_numbers(swap[1])}",
                "low" if weaker else "medium",
                f"replace concept {slot} with pool[{swap[0]}]",
                [cid, swap[1].id],
            )
        )
    return out


def weak_classes(
    per_class: Mapping[str, float], confusion: Sequence[Sequence[int]], classes: Sequence[str]
) -> list[Finding]:
    """Classes the network gets wrong on many test images, each with the class it most takes it for."""
    out = []
    for i, name in enumerate(classes):
        accuracy = per_class.get(name)
        if accuracy is None or accuracy >= WEAK or i >= len(confusion):
            continue
        row = list(confusion[i])
        others = [(count, j) for j, count in enumerate(row) if j != i and j < len(classes)]
        count, j = max(others, default=(0, i))
        taken = f"; most often taken for {classes[j]} ({count} of {sum(row)} test images)" if count else ""
        out.append(Finding("weak", name, f"test accuracy {accuracy:.3f}{taken}", "high"))
    return out


def defined_class(library: Library, new: str, parts: Sequence[str], like: str | None) -> Finding:
    """`define class NEW from ...`: each part the best-ranked pool concept of the named class that the class
    relies on and that is stable where known; edges like ``like`` (default: the first part's class)."""
    refs: list[tuple[str, int]] = []
    reasons: list[str] = []
    ids: list[str] = []
    for owner in parts:
        entry = library.get(owner)
        if entry is None:
            raise ValueError(f"--from: unknown class {owner!r}")
        anywhere = entry.model_copy(update={"graph": entry.graph.model_copy(update={"nodes": (), "edges": ()})})
        chosen = _replacement(anywhere, set(ids))
        if chosen is None:
            raise ValueError(f"--from: {owner} has no stable concept it relies on (p < {SIGNIFICANT})")
        rank, concept = chosen
        refs.append((owner, rank))
        ids.append(concept.id)
        reasons.append(f"{owner}.pool[{rank}] ({concept.id}): {_numbers(concept)}")
    edges = like or parts[0]
    if library.get(edges) is None:
        raise ValueError(f"--like: unknown class {edges!r}")
    sources = ", ".join(f"{format_class_name(owner)}.pool[{rank}]" for owner, rank in refs)
    statement = f"define class {format_class_name(new)} from {sources}, edges like {format_class_name(edges)}"
    return Finding("define", new, "; ".join(reasons), "medium", statement, ids)


def _pinned(concept: PoolConcept) -> tuple[str, float] | None:
    """The ninth of the image holding at least PINNED of the concept's patches, from its ``place``
    ('top left (92%)'), if it is not the centre; None otherwise."""
    region, _, share = (concept.place or "").rpartition(" (")
    if not region or region == "centre" or not share.endswith("%)"):
        return None
    try:
        fraction = float(share[:-2]) / 100
    except ValueError:
        return None
    return (region, fraction) if fraction >= PINNED else None


def evidence_density(concept: PoolConcept) -> float | None:
    """Share of the class's evidence the concept carries (``importance``) over the share of the image its
    patches cover (``area``): 1 for evidence spread evenly over the image; None without an area."""
    if concept.area is None or concept.area <= 0:
        return None
    return concept.importance / concept.area


def shortcut_concepts(entry: ClassEntry, avoid: Set[str] = frozenset()) -> list[Finding]:
    """Concepts the class relies on that look like a shortcut: pinned to one off-centre place, or far
    denser in evidence than their area explains (DENSE, and RELATIVE times the class's median). Both:
    high; a density twice both bars: medium; one sign alone: low. Each is forbidden, and one in the c-SCG
    first gives its slot to the best pool concept that is neither (`replace`, then `forbid`). Concepts in
    ``avoid`` (another detector's) are left alone."""
    relied = [c for c in entry.pool if _relied_on(c)]
    densities = [d for c in relied if (d := evidence_density(c)) is not None]
    median = sorted(densities)[len(densities) // 2] if len(densities) >= 3 else None
    flagged: dict[str, tuple[str, str]] = {}
    for concept in relied:
        if concept.id in avoid or concept.id in entry.forbidden:
            continue
        pinned = _pinned(concept) if (concept.images or 0) >= MIN_IMAGES else None
        density = evidence_density(concept)
        bar = DENSE if median is None else max(DENSE, RELATIVE * median)
        dense = density is not None and density >= bar
        if not (pinned or dense):
            continue
        signs = []
        if pinned:
            signs.append(f"{pinned[1]:.0%} of its patches sit {pinned[0]}")
        if density is not None and concept.area is not None:
            against = "" if median is None else f", the class's significant concepts' median {median:.1f}x"
            signs.append(
                f"it carries {concept.importance:.0%} of the class's evidence on {concept.area:.1%} of the image "
                f"({density:.1f}x its area's share{against})"
            )
        if pinned and dense:
            confidence = "high"
        elif dense and density is not None and density >= 2 * bar:
            confidence = "medium"
        else:
            confidence = "low"
        flagged[concept.id] = (confidence, "; ".join(signs))
    return _replace_then_forbid("shortcut", entry, flagged, set(flagged) | set(avoid))
