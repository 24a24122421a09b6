"""`hni extract`: from the original network to a concept library, I-SCGs and a GRN that mimics it.

The stages, in the order the data flows (HNI 3.1, VRX 3.1-3.2):

1. per image, cached: multi-resolution segments; patch features (`pool` or `crop`); one forward pass
   giving the logits, the Grad-CAM map of every class of interest and the class-logit gradient at the
   feature layer (for TCAV);
2. per class: concept discovery (k-means + ACE frequency rule + TCAV ranking) -> the class's pool;
3. per class: the c-SCG = the top-k pool concepts, all directed edges;
4. per image and class: the I-SCG by one-to-one matching;
5. the GRN trained to mimic the network on the classes of interest (on the training images, and on
   rotated copies of them when `extract.mimic_turns` asks: stage 1 runs on the copies too, stages 2-3
   never see them); edges kept by |e_ji|; the GRN retrained on the kept edges; fidelity measured on
   held-out (test) images.

Outputs are written into a fresh folder and swapped in at the end, so an interrupted run leaves the
previous `concepts/` untouched.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from hni_dsl.errors import HniError
from hni_dsl.library import ClassEntry, Graph, GraphEdge, Library, PoolConcept, write_library

from hni_engine import formats
from hni_engine.store.cache import Cache, cache_key
from hni_engine.store.config import ConfigError, HniConfig
from hni_engine.data.images import ImageSet, to_tensor, turned_copies
from hni_engine.discovery.concepts import Concept, DiscoveryConfig, discover_concepts
from hni_engine.discovery.features import pool_map
from hni_engine.discovery.gradcam import binarize, eval_mode, resolve_layer
from hni_engine.network.models import LoadedModel, load_checkpoint
from hni_engine.progress import bar
from hni_engine.graphs.scg import ImagePatches, NodeConcept, assemble, match_class
from hni_engine.discovery.segmentation import SegmentationConfig, mask_centres, segment
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["ExtractResult", "extract", "ImageAnalysis", "Analyser", "encode_masks", "decode_masks",
           "Extracted", "load_extracted"]

EXEMPLARS_PER_CONCEPT = 6
RANDOM_PATCHES = 600


# -- compact mask storage ------------------------------------------------------------------------

def encode_masks(masks: np.ndarray) -> np.ndarray:
    """(S, H, W) bool -> (L, H, W) int16 layers of non-overlapping masks (value = mask index + 1).

    Masks of one SLIC resolution never overlap, so L is about the number of resolutions: a few label
    maps instead of S full masks.
    """
    layers: list[np.ndarray] = []
    for i, mask in enumerate(masks):
        for layer in layers:
            if not (layer[mask] != 0).any():
                layer[mask] = i + 1
                break
        else:
            layer = np.zeros(masks.shape[1:], dtype=np.int16)
            layer[mask] = i + 1
            layers.append(layer)
    return np.stack(layers) if layers else np.zeros((0,) + masks.shape[1:], np.int16)


def decode_masks(layers: np.ndarray, count: int) -> np.ndarray:
    masks = np.zeros((count,) + layers.shape[1:], dtype=bool)
    for layer in layers:
        for i in np.unique(layer[layer > 0]):
            masks[i - 1] = layer == i
    return masks


def _pool_by_labels(fmap: torch.Tensor, layers: np.ndarray, count: int) -> Optional[torch.Tensor]:
    """Pool-mode features straight from the label layers: each segment's area in each feature-map cell
    (one bincount per layer) weights the cells. Equals area-weighted adaptive pooling of the masks when
    the map tiles the image evenly; returns None otherwise.

    Args:
        fmap: (C, h, w) feature map of one image.
        layers: (L, H, W) label layers (value = segment index + 1).
    """
    c, h, w = fmap.shape
    height, width = layers.shape[1:]
    if height % h or width % w:
        return None
    cell = (np.arange(height)[:, None] // (height // h)) * w + np.arange(width)[None, :] // (width // w)  # (H, W)
    counts = np.zeros((count + 1) * h * w)
    for layer in layers.astype(np.int64):
        counts += np.bincount((layer * h * w + cell).ravel(), minlength=(count + 1) * h * w)
    weights = torch.from_numpy(counts.reshape(count + 1, h * w)[1:]).float()  # (S, h*w)
    pooled = weights @ fmap.float().reshape(c, h * w).T  # (S, C)
    return pooled / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)


# -- per-image analysis ---------------------------------------------------------------------------

@dataclass
class ImageAnalysis:
    """What extraction needs of one image (the masks themselves stay in the cache)."""

    features: np.ndarray      # (S, D) float32 patch features
    centres: np.ndarray       # (S, 2) normalised (x, y)
    inside: np.ndarray        # (n, S) fraction of each segment inside each class of interest's Grad-CAM mask
    #                           (all ones with `extract.concept_region = "image"`: every segment is a candidate)
    logits: np.ndarray        # (K,) the network's logits
    gradient: np.ndarray      # (n, D) class-logit gradients at the feature layer, summed over space
    # (S, D) pool features of the segments in the whole image (crop mode); float16 as cached, which halves
    # what a default-size extraction holds for them (M1)
    context: Optional[np.ndarray] = None

    def node_features(self) -> np.ndarray:
        """What the GRN's nodes receive: the patch features, then the context features where there are any."""
        if self.context is None:
            return self.features
        return np.concatenate([self.features, self.context.astype(np.float32)], axis=1)

    def patches(self, candidates: Optional[np.ndarray] = None, *, context: bool = True) -> ImagePatches:
        """The image's patches for matching; ``candidates`` (rows, S) replaces the Grad-CAM rows if given.

        ``context=False`` leaves the context features out: the GRN that `hni apply` retrains on the edited
        graphs sees the approved concepts alone (context features carry what surrounds each patch,
        removed concepts included, and a GRN taught with labels learns the shortcut back from them).
        """
        features = self.node_features() if context else self.features
        return ImagePatches(features, self.centres, self.inside > 0 if candidates is None else candidates)


class Analyser:
    """Runs (or reads from the cache) the per-image stages for one model and configuration."""

    def __init__(self, loaded: LoadedModel, config: HniConfig, coi: Sequence[int], cache: Cache, device: str,
                 config_path: str = "hni.toml"):
        from hni_engine.discovery.features import make_patch_features

        self.loaded, self.config, self.coi, self.cache, self.device = loaded, config, list(coi), cache, device
        m, e = config.model, config.extract
        self.seg_config = SegmentationConfig(
            n_segments=tuple(e.segment.n_segments), compactness=e.segment.compactness, sigma=e.segment.sigma,
            min_area=e.segment.min_area, dedupe_jaccard=e.segment.dedupe_jaccard)
        for field_name, layer in (("model.feature_layer", m.feature_layer), ("model.gradcam_layer", m.gradcam_layer)):
            try:
                resolve_layer(loaded.model, layer)
            except ValueError as exc:
                raise ConfigError(config_path, str(exc), field_name) from None
        self.features = make_patch_features(e.feature_mode, model=loaded.model, layer=m.feature_layer,
                                            input_size=m.input_size, mean=m.mean, std=m.std, device=device)
        self.seg_key = cache_key("segments", e.segment.key())
        # Each key names exactly what its result depends on, so a changed parameter misses only those entries.
        pixels = (m.input_size, list(m.mean), list(m.std))
        self.feat_key = cache_key("features", loaded.sha256, m.feature_layer, e.feature_mode, pixels, self.seg_key)
        # Context features (crop mode) come from the Grad-CAM pass, so they live in its cache entry.
        self.context = e.context_features and e.feature_mode == "crop"
        # The region only chooses which segments count as candidates: the cached Grad-CAM overlap stays as it is.
        self.whole_image = e.concept_region == "image"
        self.cam_key = cache_key("cams", loaded.sha256, m.gradcam_layer, m.feature_layer, e.gradcam_keep,
                                 self.coi, pixels, self.seg_key, *(["context"] if self.context else []))

    def layers(self, image: np.ndarray, digest: str) -> tuple[np.ndarray, int]:
        """The image's segments as (L, H, W) label layers and their count (cached)."""
        entry = self.cache.get_or_compute("segments", cache_key(self.seg_key, digest), lambda: self._segment(image))
        return entry["layers"].numpy(), int(entry["count"])

    def masks(self, image: np.ndarray, digest: str) -> np.ndarray:
        return decode_masks(*self.layers(image, digest))

    def _segment(self, image: np.ndarray) -> dict:
        masks = segment(image, self.seg_config)
        return {"layers": torch.from_numpy(encode_masks(masks)), "count": torch.tensor(len(masks))}

    def analyse(self, images: np.ndarray, digests: Sequence[str]) -> list[ImageAnalysis]:
        """Analyses of a batch of images (cached entries are read, the rest computed together)."""
        out: list[Optional[ImageAnalysis]] = [None] * len(images)
        todo = []
        for i, digest in enumerate(digests):
            feat = self.cache.load("features", cache_key(self.feat_key, digest))
            cams = self.cache.load("cams", cache_key(self.cam_key, digest))
            if feat is not None and cams is not None:
                self.cache.hits += 1
                out[i] = self._combine(feat, cams)
            else:
                todo.append((i, feat, cams))
        if todo:
            self.cache.misses += len(todo)
            layers = [self.layers(images[i], digests[i]) for i, _, _ in todo]
            masks = [decode_masks(*layer) for layer in layers]
            need_cams = [k for k, (_, _, cams) in enumerate(todo) if cams is None]
            need_feats = [k for k, (_, feat, _) in enumerate(todo) if feat is None]
            # Pool-mode features come from the same forward pass as Grad-CAM when both are needed and read
            # the same layer at the same size: one pass per image instead of two (P2).
            shared = [k for k in need_feats if k in need_cams] if self._pool_shares_cam_pass() else []
            cam_results = self._cams(images[[todo[k][0] for k in need_cams]], [layers[k] for k in need_cams],
                                     [masks[k] if k in shared or self.context else None for k in need_cams],
                                     pool=[k in shared for k in need_cams]) if need_cams else []
            cam_by_k = dict(zip(need_cams, cam_results))
            feat_by_k = {k: cam_by_k[k].pop("pooled") for k in shared}
            rest = [k for k in need_feats if k not in feat_by_k]
            # One batched call: pool mode then needs one forward pass per batch, not per image.
            computed = self.features.many([images[todo[k][0]] for k in rest], [masks[k] for k in rest])
            feat_by_k.update(zip(rest, computed))
            for k, (i, feat, cams) in enumerate(todo):
                if feat is None:
                    feat = {"features": feat_by_k[k].float().half(),
                            "centres": torch.from_numpy(mask_centres(masks[k])).float()}
                    self.cache.save("features", cache_key(self.feat_key, digests[i]), feat)
                if cams is None:
                    cams = {key: value for key, value in cam_by_k[k].items() if key != "pooled"}
                    self.cache.save("cams", cache_key(self.cam_key, digests[i]), cams)
                out[i] = self._combine(feat, cams)
        return out  # type: ignore[return-value]

    def _combine(self, feat: dict, cams: dict) -> ImageAnalysis:
        context = cams["context"].half().numpy() if "context" in cams else None
        inside = cams["inside"].numpy()
        if self.whole_image:
            inside = np.ones_like(inside)
        return ImageAnalysis(feat["features"].float().numpy(), feat["centres"].numpy(), inside,
                             cams["logits"].numpy(), cams["gradient"].float().numpy(), context)

    def _pool_shares_cam_pass(self) -> bool:
        from hni_engine.discovery.features import PoolFeatures

        return isinstance(self.features, PoolFeatures) and self.features.run_size == self.config.model.input_size

    def _cams(self, images: np.ndarray, layers: list[tuple[np.ndarray, int]],
              pool_masks: Optional[list[Optional[np.ndarray]]] = None,
              pool: Optional[list[bool]] = None) -> list[dict]:
        """One forward pass per batch: logits, each class of interest's Grad-CAM, TCAV gradients, and
        each segment's feature-layer map averaged inside it (where ``pool_masks`` gives an image's masks):
        the image's pool-mode patch features under "pooled" where ``pool`` says so, and its context
        features under "context" when those are on."""
        model, m = self.loaded.model, self.config.model
        cam_layer = resolve_layer(model, m.gradcam_layer)
        feat_layer = resolve_layer(model, m.feature_layer)
        captured: dict[str, torch.Tensor] = {}
        handles = [cam_layer.register_forward_hook(lambda mod, a, o: captured.__setitem__("cam", o)),
                   feat_layer.register_forward_hook(lambda mod, a, o: captured.__setitem__("feat", o))]
        try:
            x = to_tensor(images, m.mean, m.std).to(self.device).requires_grad_(True)
            with eval_mode(model), torch.enable_grad():
                logits = model(x)  # (B, K)
                act, feat = captured["cam"], captured["feat"]  # (B, C, h, w)
                cams, grads = [], []
                for c in self.coi:
                    g_cam, g_feat = torch.autograd.grad(logits[:, c].sum(), [act, feat], retain_graph=True)
                    weights = g_cam.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
                    cam = F.relu((weights * act.detach()).sum(1, keepdim=True))  # (B, 1, h, w)
                    cams.append(F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0])
                    grads.append(g_feat.sum(dim=(2, 3)))  # (B, D)
        finally:
            for handle in handles:
                handle.remove()
        # No min-max normalisation: binarize keeps the top pixels by rank, which a monotone rescaling keeps.
        cam_maps = torch.stack(cams, 1)  # (B, n, H, W)
        regions = binarize(cam_maps.flatten(0, 1), self.config.extract.gradcam_keep).view_as(cam_maps)
        results = []
        for b, (label_layers, count) in enumerate(layers):
            region = regions[b].reshape(len(self.coi), -1).numpy()  # (n, H*W) bool
            covered = np.zeros((len(self.coi), count + 1))
            area = np.zeros(count + 1)
            # Segments of one layer do not overlap: per-label counts (bincount) replace S full-mask products.
            for layer in label_layers.reshape(len(label_layers), -1).astype(np.int64):
                area += np.bincount(layer, minlength=count + 1)
                for j in range(len(self.coi)):
                    covered[j] += np.bincount(layer, weights=region[j], minlength=count + 1)
            inside = covered[:, 1:] / np.maximum(area[1:], 1)  # (n, S)
            pooled = None
            if pool_masks is not None and pool_masks[b] is not None:
                pooled = _pool_by_labels(feat[b].detach(), label_layers, count)
                if pooled is None:  # the map does not tile the image evenly: the general path
                    pooled = pool_map(feat[b].detach(), pool_masks[b])  # (S, C)
            result = {"pooled": pooled if pool is None or pool[b] else None,
                      "inside": torch.from_numpy(inside.astype(np.float32)), "logits": logits[b].detach().float(),
                      "gradient": torch.stack([g[b] for g in grads]).detach().half()}
            if self.context:
                result["context"] = pooled.float().half()
            results.append(result)
        return results


# -- the whole extraction -------------------------------------------------------------------------

@dataclass
class ExtractResult:
    library: Library
    fidelity: float
    report: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ExtractResult(classes={len(self.library.classes)}, fidelity={self.fidelity:.3f})"


def analyse_all(analyser: Analyser, data: ImageSet, desc: str, batch: int = 32) -> list[ImageAnalysis]:
    out: list[ImageAnalysis] = []
    with bar(len(data), desc, "img") as progress:
        for start in range(0, len(data), batch):
            out.extend(analyser.analyse(data.images[start:start + batch], data.digests[start:start + batch]))
            progress.update(min(batch, len(data) - start))
    return out


def _discovery_images(data: ImageSet, analyses: list[ImageAnalysis], label: int, count: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` images of a class, correctly classified ones first (their concepts are the class's)."""
    idx = data.indices_of(label)
    correct = np.array([analyses[i].logits.argmax() == label for i in idx])
    ordered = np.concatenate([rng.permutation(idx[correct]), rng.permutation(idx[~correct])])
    return ordered[:count]


class ExtractError(HniError):
    """Extraction cannot go on with this data and configuration."""


def _discover(config: HniConfig, data: ImageSet, analyses: list[ImageAnalysis], coi: list[int],
              names: list[str], relaxed: dict[str, float]) -> dict[str, list[Concept]]:
    """Each class's concept pool; classes whose frequency rule had to be relaxed are noted in ``relaxed``."""
    e = config.extract
    rng = np.random.default_rng(config.seed)
    pools: dict[str, list[Concept]] = {}
    with bar(len(coi), "discovering concepts", "class") as progress:
        for j, label in enumerate(coi):
            chosen = _discovery_images(data, analyses, label, e.images_per_class, rng)
            rows, owners = [], []
            for i in chosen:
                keep = np.flatnonzero(analyses[i].inside[j] >= 0.5)  # segments mostly inside the class's CAM
                rows.append(analyses[i].features[keep])
                owners.extend((int(i), int(s)) for s in keep)
            features = np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)
            others = np.flatnonzero(data.labels != label)
            picks = rng.choice(others, size=min(len(others), RANDOM_PATCHES), replace=len(others) < RANDOM_PATCHES)
            random_pool = np.stack([analyses[i].features[rng.integers(len(analyses[i].features))] for i in picks])
            gradients = np.stack([analyses[i].gradient[j] for i in chosen])
            concepts: list[Concept] = []
            frequency = e.min_cluster_images
            while not concepts and frequency >= 0.05 and len(features) >= 2:
                dc = DiscoveryConfig(clusters=e.clusters, min_cluster_images=frequency, cluster_members=e.cluster_members,
                                     tcav_random_sets=e.tcav_random_sets, tcav_alpha=e.tcav_alpha,
                                     match_percentile=e.match_percentile, seed=config.seed)
                concepts = discover_concepts(features, np.array(owners, dtype=np.int64).reshape(-1, 2), random_pool,
                                             gradients, dc)
                frequency /= 2  # a class whose patches vary a lot: relax ACE's frequency rule, and say so
            if not concepts:
                raise ExtractError(f"no concept found for class {names[label]!r}: {len(features)} segments inside "
                                   f"its Grad-CAM regions; give it more images or lower extract.clusters")
            if frequency * 2 < e.min_cluster_images:
                relaxed[names[label]] = frequency * 2
            pools[names[label]] = concepts
            progress.update(1)
    return pools


def iscg_batch(patches: Sequence[ImagePatches], rows: Sequence[int], nodes: list[list[NodeConcept]]):
    """The I-SCGs of many images for every class graph: class graph g is matched against the patches'
    candidate row ``rows[g]`` (which Grad-CAM region, or every patch for a class without one)."""
    from hni_engine.graphs.grn import ISCGBatch

    x, present, pos = assemble([match_class(patches, row, class_nodes) for row, class_nodes in zip(rows, nodes)])
    return ISCGBatch(x=x, present=present, pos=pos)


def _grn_batch(analyses: list[ImageAnalysis], indices: np.ndarray, nodes: list[list[NodeConcept]]):
    return iscg_batch([analyses[i].patches() for i in indices], range(len(nodes)), nodes)


def _exemplar(image: np.ndarray, mask: np.ndarray, size: int = 64) -> Image.Image:
    """The segment on ACE's gray, cropped to its bounding box: what a person looks at for a concept."""
    ys, xs = np.nonzero(mask)
    filled = np.where(mask[..., None], image, np.uint8(117))
    crop = filled[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return Image.fromarray(crop).resize((size, size), Image.Resampling.NEAREST)


@contextmanager
def single_thread():
    """GRN steps are many small ops: one thread is as fast as two, and on a busy machine much faster."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _swap_in(built: Path, target: Path) -> None:
    """Replace ``target`` by ``built`` with renames only, so readers see the old or the new folder."""
    trash = None
    if target.exists():
        trash = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(trash)
    built.rename(target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def extract(ws: Workspace, *, device: str = "cpu", use_cache: bool = True) -> ExtractResult:
    from hni_engine.graphs.grn import GRN, ClassGraph, fidelity, train_grn

    config = ws.config
    torch.manual_seed(config.seed)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    classes = ws.data_classes()
    with bar(None, "loading images", "img") as progress:
        train = ws.load_split("train", classes, lambda done, total: progress.update(1))
        test = ws.load_split("test", classes, lambda done, total: progress.update(1))
    loaded = load_checkpoint(ws.model_path, config.model.arch, classes)
    loaded.model.to(device)
    names = ws.classes_of_interest(classes)
    coi = [classes.index(n) for n in names]
    cache = Cache(ws.cache_dir, enabled=use_cache)
    analyser = Analyser(loaded, config, coi, cache, device, str(ws.config_path))
    timings["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    train_keep = np.flatnonzero(np.isin(train.labels, coi))
    test_keep = np.flatnonzero(np.isin(test.labels, coi))
    train = train.subset(train_keep)
    test = test.subset(test_keep)
    train_an = analyse_all(analyser, train, "analysing train images")
    test_an = analyse_all(analyser, test, "analysing test images")
    turns = config.extract.mimic_turns
    if turns:
        turned, source = turned_copies(train, turns, config.seed)
        turned_an = analyse_all(analyser, turned, "analysing rotated copies")
    timings["analyse"] = time.perf_counter() - clock

    clock = time.perf_counter()
    relaxed: dict[str, float] = {}
    pools = _discover(config, train, train_an, coi, classes, relaxed)
    timings["discover"] = time.perf_counter() - clock

    clock = time.perf_counter()
    k = config.extract.top_k
    nodes = [[NodeConcept(f"{name}/{c.key}", c.anchor, c.threshold) for c in pools[name][:k]] for name in names]
    graphs = [ClassGraph(name, len(n), tuple((a, b) for a in range(len(n)) for b in range(len(n)) if a != b))
              for name, n in zip(names, nodes)]
    # The GRN mimics the network on the training images and their rotated copies (concepts came from the
    # originals alone); a copy stays on its source's side of the validation split.
    mimic_an = train_an + turned_an if turns else train_an
    groups = torch.from_numpy(np.concatenate([np.arange(len(train)), source])) if turns else None
    train_batch = _grn_batch(mimic_an, np.arange(len(mimic_an)), nodes)
    test_batch = _grn_batch(test_an, np.arange(len(test)), nodes)
    timings["match"] = time.perf_counter() - clock

    clock = time.perf_counter()
    targets = torch.from_numpy(np.stack([a.logits for a in mimic_an]))[:, coi]  # (N, n)
    test_logits = torch.from_numpy(np.stack([a.logits for a in test_an]))[:, coi]
    g = config.grn
    train_args = dict(mode="mimic", epochs=g.epochs, batch_size=g.batch_size, lr=g.lr, lr_step=g.lr_step,
                      lr_gamma=g.lr_gamma, weight_decay=g.weight_decay, groups=groups, seed=config.seed,
                      device=device)
    dim = train_batch.x.shape[-1]
    with bar(g.epochs, "training the GRN (all edges)", "epoch") as progress, single_thread():
        full = GRN(graphs, dim)
        train_grn(full, train_batch, targets, progress=lambda *a: progress.update(1), **train_args)
    held_out_all_edges = fidelity(full, test_batch, test_logits)
    # Keep the edges with the largest |e_ji| per class, then retrain on the kept graph.
    learnt = full.edge_weights()
    kept_graphs, kept_weights = [], {}
    for graph in graphs:
        ranked = sorted(learnt[graph.name], key=lambda t: (-abs(t[2]), t[0], t[1]))
        keep = ranked[: max(1, round(config.extract.edges_kept * len(ranked)))] if ranked else []
        kept_weights[graph.name] = {(s, d): w for s, d, w in keep}
        kept_graphs.append(ClassGraph(graph.name, graph.n_nodes, tuple(sorted((s, d) for s, d, _ in keep))))
    with bar(g.epochs, "training the GRN (kept edges)", "epoch") as progress, single_thread():
        grn = GRN(kept_graphs, dim)
        report = train_grn(grn, train_batch, targets, progress=lambda *a: progress.update(1), **train_args)
    final_weights = grn.edge_weights()
    held_out = fidelity(grn, test_batch, test_logits)
    timings["grn"] = time.perf_counter() - clock

    clock = time.perf_counter()
    library = _library(names, classes, pools, kept_graphs, final_weights, loaded, config)
    _write_outputs(ws, library, pools, names, grn, train, analyser, {"kept": held_out, "all": held_out_all_edges},
                   report, timings, cache, loaded, relaxed)
    timings["write"] = time.perf_counter() - clock
    return ExtractResult(library, held_out, json.loads(ws.extract_report_path.read_text()))


def _library(names, classes, pools, graphs, weights, loaded: LoadedModel, config: HniConfig) -> Library:
    entries = []
    for name, graph in zip(names, graphs):
        concepts = pools[name]
        pool = tuple(PoolConcept(id=f"{name}/{c.key}", importance=round(c.tcav_score, 4),
                                 exemplars=tuple(f"patches/{name}/{c.key}_{i}.png"
                                                 for i in range(min(EXEMPLARS_PER_CONCEPT, len(c.members)))),
                                 images=c.images, directional=round(c.directional, 6), p_value=round(c.p_value, 6))
                     for c in concepts)
        edge_w = {(s, d): w for s, d, w in weights[name]}
        edges = tuple(GraphEdge(src=s + 1, dst=d + 1, weight=round(edge_w[(s, d)], 4)) for s, d in graph.edges)
        entries.append(ClassEntry(name=name, output_index=classes.index(name), pool=pool,
                                  graph=Graph(nodes=tuple(p.id for p in pool[:graph.n_nodes]), edges=edges)))
    meta = {"model_sha256": loaded.sha256, "arch": loaded.arch, "feature_layer": config.model.feature_layer,
            "feature_mode": config.extract.feature_mode, "config_key": config.key(), "seed": config.seed}
    return Library(classes=tuple(entries), meta=meta)


def _member_locations(pools, names, train: ImageSet, analyser: Analyser) -> dict[str, list]:
    """Where each concept's member patches are: [image path, x0, y0, x1, y1] (box normalised to [0, 1]).

    For people (which images show the concept) and for benchmarks that compare concepts with the
    synthetic world's ground truth (is a concept the injected context object?).
    """
    out: dict[str, list] = {}
    masks_of: dict[int, np.ndarray] = {}
    for name in names:
        for c in pools[name]:
            rows = []
            for image_id, seg_id in c.members:
                if image_id not in masks_of:
                    masks_of[image_id] = analyser.masks(train.images[image_id], train.digests[image_id])
                mask = masks_of[image_id][seg_id]
                ys, xs = np.nonzero(mask)
                h, w = mask.shape
                rows.append([train.paths[image_id], float(xs.min() / w), float(ys.min() / h),
                             float((xs.max() + 1) / w), float((ys.max() + 1) / h)])
            out[f"{name}/{c.key}"] = rows
    return out


def _write_outputs(ws, library, pools, names, grn, train: ImageSet, analyser: Analyser,
                   held_out: dict[str, float], report, timings, cache: Cache, loaded: LoadedModel,
                   relaxed: dict[str, float]) -> None:
    ws.root.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=".concepts.partial-", dir=ws.root))
    built.chmod(0o755)  # mkdtemp's private mode would stay with the renamed concepts folder
    try:
        write_library(library, built / "library.json")
        ids = [f"{name}/{c.key}" for name in names for c in pools[name]]
        anchors = torch.from_numpy(np.stack([c.anchor for name in names for c in pools[name]]))
        thresholds = torch.tensor([c.threshold for name in names for c in pools[name]])
        torch.save({"format": formats.ANCHORS, "ids": ids, "anchors": anchors, "thresholds": thresholds,
                    "members": _member_locations(pools, names, train, analyser),
                    "model_sha256": loaded.sha256}, built / "anchors.pt")
        torch.save({"format": formats.GRN, "classes": names, "state": grn.state()}, built / "grn.pt")
        with bar(sum(min(EXEMPLARS_PER_CONCEPT, len(c.members)) for n in names for c in pools[n]),
                 "writing exemplar patches", "patch") as progress:
            for name in names:
                folder = built / "patches" / name
                folder.mkdir(parents=True, exist_ok=True)
                for c in pools[name]:
                    for i, (image_id, seg_id) in enumerate(c.members[:EXEMPLARS_PER_CONCEPT]):
                        masks = analyser.masks(train.images[image_id], train.digests[image_id])
                        _exemplar(train.images[image_id], masks[seg_id]).save(folder / f"{c.key}_{i}.png")
                        progress.update(1)
        summary = {
            "fidelity_test": held_out["kept"],  # the GRN written, on its kept edges
            "fidelity_test_all_edges": held_out["all"],  # the first training, before edge selection
            "grn": {"best_epoch": report.best_epoch, "val_fidelity": report.val_accuracy, "epochs": report.epochs},
            "classes": names,
            # rotated copies the GRN also mimicked (extract.mimic_turns), beside the originals
            "images": {"train": len(train), "rotated_copies": report.n_train + report.n_val - len(train)},
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "cache": cache.stats(),
            # classes whose concepts recur in fewer images than extract.min_cluster_images asks (value used)
            "frequency_rule_relaxed": relaxed,
            "model_sha256": loaded.sha256,
        }
        (built / "extract.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
        _swap_in(built, ws.concepts_dir)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise


# -- reading what extraction wrote ----------------------------------------------------------------

@dataclass
class Extracted:
    """The workspace's concepts as the engine uses them: library, anchors, thresholds, GRN."""

    library: Library
    anchors: dict[str, np.ndarray]
    thresholds: dict[str, float]
    grn: "object"
    classes: list[str]  # the GRN's classes, in its output order

    def nodes(self, name: str) -> list[NodeConcept]:
        entry = self.library.get(name)
        return [NodeConcept(cid, self.anchors[cid], self.thresholds[cid]) for cid in entry.graph.nodes]


def load_extracted(ws: Workspace) -> Extracted:
    from hni_dsl import load_library

    from hni_engine.graphs.grn import GRN

    for path in (ws.library_path, ws.anchors_path, ws.grn_path):
        if not path.exists():
            raise WorkspaceError(f"{path}: missing; run `hni extract` first")
    library = load_library(ws.library_path)
    try:
        anchors = torch.load(ws.anchors_path, map_location="cpu", weights_only=True)
        grn_file = torch.load(ws.grn_path, map_location="cpu", weights_only=True)
        grn = GRN.from_state(grn_file["state"])
    except Exception as exc:
        raise WorkspaceError(f"{ws.concepts_dir}: unreadable extraction output ({type(exc).__name__}: {exc}); "
                             f"run `hni extract` again") from None
    grn.eval()
    ids = list(anchors["ids"])
    return Extracted(library, {cid: anchors["anchors"][i].numpy() for i, cid in enumerate(ids)},
                     {cid: float(anchors["thresholds"][i]) for i, cid in enumerate(ids)}, grn,
                     list(grn_file["classes"]))
