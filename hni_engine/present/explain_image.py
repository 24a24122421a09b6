"""`hni explain`: one image through the network and its GRN, and the contributions of each concept and
relation to the GRN's answer (VRX eq. 5-6), as text and as a picture.

The current state is explained: the HEAD run's network, edited library and retrained GRN, or the
extraction's network and mimic GRN. Patch features always come from the extraction's network: the
concept anchors live in its feature space, as they do when `hni apply` rebuilds the image graphs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from hni_dsl import load_library
from hni_dsl.library import ClassEntry
from hni_engine.data.images import image_digest, load_image
from hni_engine.discovery.analysis import Analyser, ImagePatches, candidate_patches
from hni_engine.graphs.extracted import Extracted, load_extracted
from hni_engine.graphs.grn import GRN, ISCGBatch
from hni_engine.graphs.scg import iscg_batch, match_nodes
from hni_engine.network.models import LoadedModel, load_checkpoint
from hni_engine.network.training import predict_logits
from hni_engine.present.contributions import Contributions, GraphContribution, contributions
from hni_engine.present.pictures import ExplainedNode, ExplainPanel, Picture, explain_picture
from hni_engine.present.show import class_entry
from hni_engine.store.cache import Cache
from hni_engine.store.names import load_names, with_names
from hni_engine.store.runs import resolve_run
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = [
    "ImageExplanation",
    "explain_figure",
    "explain_image",
    "explain_panels",
    "matched_boxes",
    "print_graph",
    "run_state",
]


@dataclass
class ImageExplanation:
    """One image through the network and the GRN, with the contributions asked for (VRX eq. 5-6).

    Computed once and read by both the text and the picture of `hni explain`, so they show the same numbers.
    """

    path: str
    image: np.ndarray  # (S, S, 3) uint8, as the network saw it
    digest: str
    classes: list[str]  # the network's classes
    names: list[str]  # the GRN's classes (the classes of interest), in its output order
    network: torch.Tensor  # (K,) the network's softmax
    grn_pred: int  # index into names
    questions: list[tuple[str, int, Contributions]]  # (title, class index into names, contributions)
    extracted: Extracted  # the library, anchors and GRN explained (a run's, or the extraction's)
    analyser: Analyser
    patches: ImagePatches  # the image's candidate patches
    rows: list[int]  # candidate row of patches for each class in names
    batch: ISCGBatch
    run: str | None = None  # the run explained; None: the extraction

    def entry(self, name: str) -> ClassEntry:
        """The explained library's entry for class ``name``, one of ``names``."""
        entry = self.extracted.library.get(name)
        assert entry is not None  # names are the explained library's classes
        return entry

    def slot_offset(self, name: str) -> int:
        """Where class ``name``'s slots start in the batch's concatenated slot axis."""
        return sum(len(self.entry(n).graph.nodes) for n in self.names[: self.names.index(name)])

    def unmet(self, name: str) -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
        """What class ``name``'s graph expected and the image lacks: its concepts that matched no patch
        (slot, id), and its edges with an end missing (1-based slots)."""
        offset, entry = self.slot_offset(name), self.entry(name)
        found = [bool(self.batch.present[0, offset + k]) for k in range(len(entry.graph.nodes))]
        missing = [(k + 1, cid) for k, cid in enumerate(entry.graph.nodes) if not found[k]]
        edges = [(e.src, e.dst) for e in entry.graph.edges if not (found[e.src - 1] and found[e.dst - 1])]
        return missing, edges


def explain_image(
    ws: Workspace, image_path: str, why_not: str | None, device: str, *, run: str | None = None, base: bool = False
) -> ImageExplanation:
    """Analyse one image, run the GRN on its I-SCGs, and score "why the GRN's class" (and "why not `why_not`").

    The current state is explained: the run `runs/HEAD` names (or `run`, an id or unique prefix), with
    that run's network, edited library and retrained GRN; the extraction's network and mimic GRN when
    there is no run or `base` is set. Patch features always come from the extraction's network: the
    concept anchors live in its feature space, as they do when `hni apply` rebuilds the image graphs.
    """
    config = ws.config
    extracted = load_extracted(ws)
    classes = ws.data_classes()
    extraction_model = load_checkpoint(ws.model_path, config.model.arch, classes)
    extraction_model.model.to(device)
    run_id = None if base else resolve_run(ws, run)
    network, network_classes = extraction_model, classes
    if run_id is not None:
        extracted, network, network_classes = run_state(ws, run_id, extracted, device)
    extracted.library = with_names(extracted.library, load_names(ws.root))  # people's names beside the ids
    names = extracted.classes
    if why_not is not None and why_not not in names:
        class_entry(extracted.library, why_not)  # raises with a did-you-mean
    image = load_image(image_path, config.model.input_size)
    # Classes with images have Grad-CAM regions in the extraction's network; a defined class has none,
    # so every patch is a candidate for it (as in `hni apply`).
    seen = [n for n in names if n in classes]
    defined = [n for n in names if n not in classes]
    analyser = Analyser(extraction_model, config, [classes.index(n) for n in seen], Cache(ws.cache_dir), device)
    digest = image_digest(image)
    (analysis,) = analyser.analyse(image[None], [digest])
    (patches,) = candidate_patches([analysis], len(defined), context=run_id is None)  # as the GRN explained was trained
    rows = [seen.index(n) if n in seen else len(seen) + defined.index(n) for n in names]
    batch = iscg_batch([patches], rows, [extracted.nodes(n) for n in names])
    if batch.x.shape[-1] != extracted.grn.in_dim:
        where = ws.runs_dir / run_id / "grn.pt" if run_id else ws.grn_path
        raise WorkspaceError(
            f"{where}: the GRN takes {extracted.grn.in_dim}-dimensional node features, but "
            f"{ws.config_path} now gives {batch.x.shape[-1]} (extract.feature_mode or "
            f"extract.context_features changed?); run `hni extract` again"
        )
    with torch.no_grad():
        grn_logits = extracted.grn(batch)[0]
    grn_pred = int(grn_logits.argmax())
    targets = [(f"why {names[grn_pred]}", grn_pred)]
    if why_not is not None:
        targets.append((f"why not {why_not}", names.index(why_not)))
    questions = [(title, index, contributions(extracted.grn, batch, index)) for title, index in targets]
    if network is extraction_model:
        logits = torch.from_numpy(analysis.logits)
    else:
        logits = predict_logits(network.model, image[None], config.model.mean, config.model.std, device=device)[0]
    return ImageExplanation(
        str(image_path),
        image,
        digest,
        network_classes,
        names,
        torch.softmax(logits, 0),
        grn_pred,
        questions,
        extracted,
        analyser,
        patches,
        rows,
        batch,
        run_id,
    )


def run_state(
    ws: Workspace, run_id: str, extracted: Extracted, device: str
) -> tuple[Extracted, LoadedModel, list[str]]:
    """A run's library, retrained GRN and network, with the extraction's anchors (its concepts' features)."""
    folder = ws.runs_dir / run_id
    for name in ("library.json", "grn.pt", "model.pt", "classes.json"):
        if not (folder / name).is_file():
            raise WorkspaceError(f"{folder}: incomplete run ({name} is missing)")
    library = load_library(folder / "library.json")
    try:
        grn_file = torch.load(folder / "grn.pt", map_location="cpu", weights_only=True)
        grn = GRN.from_state(grn_file["state"]).eval()
        network_classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    except Exception as exc:
        raise WorkspaceError(f"{folder}: unreadable run output ({type(exc).__name__}: {exc})") from None
    unknown = [cid for e in library.classes for cid in e.graph.nodes if cid not in extracted.anchors]
    if unknown:
        raise WorkspaceError(
            f"{folder / 'library.json'}: concepts {', '.join(unknown[:3])} are not in "
            f"{ws.anchors_path} (extracted again since this run?)"
        )
    network = load_checkpoint(folder / "model.pt", ws.config.model.arch, network_classes)
    network.model.to(device)
    state = Extracted(library, extracted.anchors, extracted.thresholds, grn, list(grn_file["classes"]))
    return state, network, network_classes


def print_graph(ex: ImageExplanation, name: str, contribution: GraphContribution) -> None:
    offset = ex.slot_offset(name)
    for slot, concept_id in enumerate(ex.entry(name).graph.nodes, start=1):
        present = bool(ex.batch.present[0, offset + slot - 1])
        where = "at ({:.2f}, {:.2f})".format(*ex.batch.pos[0, offset + slot - 1].tolist()) if present else "absent"
        known = ex.extracted.library.concept(concept_id)
        shown = concept_id + (f" {json.dumps(known.label)}" if known is not None and known.label else "")
        print(f"  concept {slot}  {shown:<24} {where:<18} {float(contribution.nodes[slot - 1]):+.3f}")
    for (s, d), value in zip(contribution.edge_list, contribution.edges.tolist()):
        print(f"  edge {s + 1}->{d + 1}".ljust(46) + f"{value:+.3f}")


def matched_boxes(ex: ImageExplanation, index: int) -> list[tuple[float, float, float, float] | None]:
    """Normalised box (x0, y0, x1, y1) of the segment matched to each slot of class ``index``'s graph, or None.

    The same one-to-one assignment that built the I-SCG (scg.match_class), repeated here because the
    batch keeps only the matched patches' features and centres, not which segments they were.
    """
    nodes = ex.extracted.nodes(ex.names[index])
    if not nodes:
        return []
    patches = ex.patches
    candidates = np.flatnonzero(patches.candidates[ex.rows[index]])
    chosen = match_nodes(
        patches.features[candidates],
        np.stack([n.anchor for n in nodes]).astype(np.float32),
        np.array([n.threshold for n in nodes], dtype=np.float32),
    )
    masks = ex.analyser.masks(ex.image, ex.digest) if (chosen >= 0).any() else None
    boxes: list[tuple[float, float, float, float] | None] = []
    for c in chosen:
        if c < 0:
            boxes.append(None)
            continue
        assert masks is not None  # read whenever a slot is matched
        mask = masks[candidates[c]]
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        boxes.append((float(xs.min() / w), float(ys.min() / h), float((xs.max() + 1) / w), float((ys.max() + 1) / h)))
    return boxes


def explain_panels(ex: ImageExplanation) -> list[ExplainPanel]:
    """One picture panel per question: its own graph's slots, matched boxes and contributions, as printed."""
    panels = []
    for title, index, result in ex.questions:
        name = ex.names[index]
        own, offset = result[name], ex.slot_offset(name)
        nodes = []
        for slot, (concept_id, box) in enumerate(zip(ex.entry(name).graph.nodes, matched_boxes(ex, index)), start=1):
            centre = tuple(ex.batch.pos[0, offset + slot - 1].tolist()) if box is not None else None
            nodes.append(ExplainedNode(slot, concept_id, float(own.nodes[slot - 1]), box, centre))
        edges = tuple((s + 1, d + 1, float(v)) for (s, d), v in zip(own.edge_list, own.edges.tolist()))
        panels.append(ExplainPanel(f"{title} (GRN score {result.logit:+.3f})", tuple(nodes), edges))
    return panels


def explain_figure(ex: ImageExplanation) -> Picture:
    net_pred = int(ex.network.argmax())
    header = (
        f"{os.path.basename(ex.path)}: network predicts {ex.classes[net_pred]} "
        f"(p={float(ex.network[net_pred]):.2f}), GRN predicts {ex.names[ex.grn_pred]}"
    )
    return explain_picture(ex.image, explain_panels(ex), header)
