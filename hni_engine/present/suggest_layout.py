"""The pose or layout detector of `hni suggest`: c-SCG edges whose effect changes when the images are
turned.

Extraction runs the edge-drop test twice (hni_engine.graphs.extract): on the held-out test images (each
edge's ``drop``: how much the class's GRN score falls when the edge is removed) and on a turned copy of
each (``turned_drop``: the same images rotated by a random angle, then mirrored left to right). The parts
of an object are the same parts when it is turned; where they sit relative to one another is not. An edge
whose drop reverses its sign, or loses or gains half its size, on the turned copies carries the pose or
the layout of the training images rather than the object, and is proposed for removal (`drop edge`); when
most of a class's edges do, the class is proposed to reason on its nodes alone (`drop edges *`, the iLab
pose-bias fix of HNI).

Each edge is measured once on each image set, without an interval: a finding is at most ``medium``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hni_dsl.library import ClassEntry, GraphEdge
from hni_engine.present.suggestions import Finding

__all__ = ["CHANGE", "MATTERS", "EdgeTurn", "edge_turns", "layout_edges"]

# An edge matters when its drop, on either image set, is at least this share of the class's largest drop.
MATTERS = 0.25
# An edge changes when its drop on the turned copies differs from its drop on the originals by at least
# CHANGE of the larger of the two (it lost or gained at least half its effect); STRONG: by three quarters.
CHANGE, STRONG = 0.5, 0.75


@dataclass(frozen=True)
class EdgeTurn:
    """One edge's drop on the test images and on their turned copies, and how it changed."""

    src: int  # 1-based slots
    dst: int
    drop: float
    turned: float
    change: float  # |drop - turned| over the larger of |drop| and |turned|, in [0, 2]
    reversed: bool  # the two drops have opposite signs

    def text(self) -> str:
        way = "reverses" if self.reversed else ("shrinks" if abs(self.turned) < abs(self.drop) else "grows")
        return (
            f"edge {self.src}->{self.dst}: removing it drops the score by {self.drop:+.3f} on the test images, "
            f"{self.turned:+.3f} on turned copies ({way}, {self.change:.0%} change)"
        )


def edge_turns(edges: tuple[GraphEdge, ...]) -> list[EdgeTurn]:
    """The class's edges that matter and change on turned copies (MATTERS, CHANGE); edges without both
    drops are left out, as are all of them when no edge moves the score."""
    measured = [e for e in edges if e.drop is not None and e.turned_drop is not None]
    scale = max((max(abs(e.drop or 0.0), abs(e.turned_drop or 0.0)) for e in measured), default=0.0)
    out = []
    for e in measured:
        assert e.drop is not None and e.turned_drop is not None
        larger = max(abs(e.drop), abs(e.turned_drop))
        if scale <= 0 or larger < MATTERS * scale:
            continue
        change = abs(e.drop - e.turned_drop) / larger
        if change >= CHANGE:
            out.append(EdgeTurn(e.src, e.dst, e.drop, e.turned_drop, change, e.drop * e.turned_drop < 0))
        # an edge whose drop keeps its size and sign is read the same way whatever the pose
    return out


def layout_edges(entry: ClassEntry) -> list[Finding]:
    """The class's edges whose effect changes on turned copies of its test images: each dropped
    (`drop edge s->d`), or all of them (`drop edges *`) when at least half of its edges, and two or more,
    change. A reversed or strongly changed edge (STRONG) is ``medium``, a smaller change ``low``."""
    edges = entry.graph.edges
    turns = edge_turns(edges)
    if not turns:
        return []
    nodes = entry.graph.nodes

    def confidence(t: EdgeTurn) -> str:
        return "medium" if t.reversed or t.change >= STRONG else "low"

    def ids(t: EdgeTurn) -> list[str]:
        return [nodes[t.src - 1], nodes[t.dst - 1]]

    if len(turns) >= 2 and 2 * len(turns) >= len(edges):
        measured = sum(e.drop is not None and e.turned_drop is not None for e in edges)
        sure = sum(confidence(t) == "medium" for t in turns)
        reason = (
            f"{len(turns)} of its {len(edges)} edges ({measured} measured) change on turned copies of the "
            f"test images, so the class reads its concepts' arrangement, not only the concepts: "
            + "; ".join(t.text() for t in turns)
        )
        level = "medium" if 2 * sure >= len(turns) else "low"
        concepts = list(dict.fromkeys(c for t in turns for c in ids(t)))
        return [Finding("layout", entry.name, reason, level, "drop edges *", concepts)]
    return [
        Finding("layout", entry.name, t.text(), confidence(t), f"drop edge {t.src}->{t.dst}", ids(t)) for t in turns
    ]
