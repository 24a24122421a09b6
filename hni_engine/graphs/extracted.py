"""What `hni extract` wrote, read back as the engine uses it: library, anchors, thresholds and the GRN."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hni_dsl import load_library
from hni_dsl.library import Library
from hni_engine.graphs.grn import GRN
from hni_engine.graphs.scg import NodeConcept
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["Extracted", "load_extracted"]


@dataclass
class Extracted:
    """The workspace's concepts as the engine uses them: library, anchors, thresholds, GRN."""

    library: Library
    anchors: dict[str, np.ndarray]
    thresholds: dict[str, float]
    grn: GRN
    classes: list[str]  # the GRN's classes, in its output order

    def nodes(self, name: str) -> list[NodeConcept]:
        entry = self.library.get(name)
        assert entry is not None
        return [NodeConcept(cid, self.anchors[cid], self.thresholds[cid]) for cid in entry.graph.nodes]


def load_extracted(ws: Workspace) -> Extracted:
    for path in (ws.library_path, ws.anchors_path, ws.grn_path):
        if not path.exists():
            raise WorkspaceError(f"{path}: missing; run `hni extract` first")
    library = load_library(ws.library_path)
    try:
        anchors = torch.load(ws.anchors_path, map_location="cpu", weights_only=True)
        grn_file = torch.load(ws.grn_path, map_location="cpu", weights_only=True)
        grn = GRN.from_state(grn_file["state"])
    except Exception as exc:
        raise WorkspaceError(
            f"{ws.concepts_dir}: unreadable extraction output ({type(exc).__name__}: {exc}); run `hni extract` again"
        ) from None
    grn.eval()
    ids = list(anchors["ids"])
    return Extracted(
        library,
        {cid: anchors["anchors"][i].numpy() for i, cid in enumerate(ids)},
        {cid: float(anchors["thresholds"][i]) for i, cid in enumerate(ids)},
        grn,
        list(grn_file["classes"]),
    )
