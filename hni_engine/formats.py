"""The format identifier of every file the engine writes, defined once.

Each file carries its identifier under "format" and every reader checks it, so a file from another
version (or another tool) is refused by name instead of being misread. Bump the number when a reader
of the old layout would misread the new one. The language's own formats (`hni-library/1`,
`hni-plan/1`) are defined in hni_dsl.
"""

from __future__ import annotations

__all__ = ["ANCHORS", "CACHE_ENTRY", "CHECKPOINT", "COMPARE", "GRN", "RUN", "SOURCE", "SYNTHETIC", "WORKSPACE"]

WORKSPACE = "hni-workspace/1"  # hni.toml
CHECKPOINT = "hni-model/1"  # model/base.pt and runs/<id>/model.pt
SOURCE = "hni-source/1"  # model/source.json: the user's checkpoint base.pt was cut from, and which outputs
ANCHORS = "hni-anchors/1"  # concepts/anchors.pt: concept anchors, thresholds, member locations
GRN = "hni-grn/2"  # concepts/grn.pt and runs/<id>/grn.pt (2: e_ji gates the edge's features too)
RUN = "hni-run/1"  # runs/<id>/metrics.json and provenance.json
COMPARE = "hni-compare/1"  # runs/<id>/compare.json and `hni compare --json`
CACHE_ENTRY = "hni-cache/1"  # every .hni/cache entry
SYNTHETIC = "hni-synthetic/1"  # the scenario manifest of generated data (data/scenario.json)
