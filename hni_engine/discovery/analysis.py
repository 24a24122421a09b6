"""The per-image pass of extraction, cached: segments, patch features, Grad-CAM regions, TCAV gradients.

For each image (HNI 3.1, VRX 3.1): multi-resolution segments (discovery.segmentation); each segment's
patch feature (`pool` or `crop`, discovery.features); one forward pass giving the logits, the Grad-CAM
map of every class of interest and the class-logit gradient at the feature layer (discovery.gradcam).
Results are content-addressed in the workspace cache, so `hni apply` and `hni explain` rebuild graphs
from them without a forward pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hni_dsl.errors import HniError
from hni_engine.data.image_array import batches
from hni_engine.data.images import ImageSet, to_tensor
from hni_engine.discovery.features import PoolFeatures, make_patch_features, pool_map
from hni_engine.discovery.gradcam import GradCam, binarize, resolve_layer
from hni_engine.discovery.segmentation import SegmentationConfig, mask_centres, segment
from hni_engine.network.models import LoadedModel
from hni_engine.network.precision import mixed_precision
from hni_engine.progress import bar
from hni_engine.store.cache import Cache, cache_key
from hni_engine.store.config import ConfigError, HniConfig

__all__ = [
    "Analyser",
    "ImageAnalysis",
    "ImagePatches",
    "analyse_all",
    "candidate_patches",
    "decode_masks",
    "encode_masks",
]


RECENT_ANALYSES = 256  # released analyses whose features stay in memory: about a discovery set's worth

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


def _pool_by_labels(fmap: torch.Tensor, layers: np.ndarray, count: int) -> torch.Tensor | None:
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


class ImagePatches:
    """One image's candidate patches: features, centres, and per class which patches overlap its Grad-CAM.

    ``features`` are what the GRN's nodes receive. Their leading dimensions are the space concepts live
    in (the anchors' size); any trailing ones (the patch's context features, see
    ``ExtractConfig.context_features``) travel with the node but take no part in matching. They may be
    given as a function that reads them (a released analysis's): then they are read on each use, not held.

    Attributes:
        features: (S, D) float32, D >= the anchors' size.
        centres: (S, 2) normalised (x, y).
        candidates: (n_classes, S) bool: segment overlaps that class's Grad-CAM mask (every segment with
            `extract.concept_region = "image"`).
    """

    def __init__(
        self, features: np.ndarray | Callable[[], np.ndarray], centres: np.ndarray, candidates: np.ndarray
    ) -> None:
        self._features = features
        self.centres, self.candidates = centres, candidates

    @property
    def features(self) -> np.ndarray:
        return self._features if isinstance(self._features, np.ndarray) else self._features()


class ImageAnalysis:
    """What extraction needs of one image (the masks themselves stay in the cache).

    The patch features are most of its size (S x D floats per image). An analysis that has been
    `release`d keeps only the small arrays and reads its features back from the workspace cache on each
    use (through the analyser's small LRU), so a stage that visits every training image holds a batch's
    features, not the split's.

    Attributes:
        features: (S, D) float32 patch features.
        centres: (S, 2) normalised (x, y).
        inside: (n, S) fraction of each segment inside each class of interest's Grad-CAM mask (all ones
            with `extract.concept_region = "image"`: every segment is a candidate).
        logits: (K,) the network's logits.
        gradient: (n, D) class-logit gradients at the feature layer, summed over space.
        context: (S, D) float16 pool features of the segments in the whole image (crop mode with context
            features), or None.
    """

    def __init__(
        self,
        features: np.ndarray,
        centres: np.ndarray,
        inside: np.ndarray,
        logits: np.ndarray,
        gradient: np.ndarray,
        context: np.ndarray | None = None,
        *,
        stored: Callable[[], tuple[np.ndarray, np.ndarray | None]] | None = None,
    ) -> None:
        self._features: np.ndarray | None = features
        self._context = context
        self.centres, self.inside, self.logits, self.gradient = centres, inside, logits, gradient
        self._stored = stored  # reads (features, context) back from the cache

    @property
    def features(self) -> np.ndarray:
        if self._features is not None:
            return self._features
        assert self._stored is not None  # released only when it can be read back
        return self._stored()[0]

    @property
    def context(self) -> np.ndarray | None:
        if self._features is not None or self._stored is None:
            return self._context
        return self._stored()[1]

    def release(self) -> None:
        """Let go of the features when the cache can give them back (a cache that is off cannot)."""
        if self._stored is not None:
            self._features = self._context = None

    def node_features(self) -> np.ndarray:
        """What the GRN's nodes receive: the patch features, then the context features where there are any."""
        if self.context is None:
            return self.features
        return np.concatenate([self.features, self.context.astype(np.float32)], axis=1)

    def patches(self, candidates: np.ndarray | None = None, *, context: bool = True) -> ImagePatches:
        """The image's patches for matching; ``candidates`` (rows, S) replaces the Grad-CAM rows if given.

        ``context=False`` leaves the context features out: the GRN that `hni apply` retrains on the edited
        graphs sees the approved concepts alone (context features carry what surrounds each patch,
        removed concepts included, and a GRN taught with labels learns the shortcut back from them).
        """
        rows = self.inside > 0 if candidates is None else candidates
        if self._features is None:  # released: the patches read the features back too, when used
            return ImagePatches(self.node_features if context else lambda: self.features, self.centres, rows)
        return ImagePatches(self.node_features() if context else self.features, self.centres, rows)


class Analyser:
    """Runs (or reads from the cache) the per-image stages for one model and configuration."""

    def __init__(
        self,
        loaded: LoadedModel,
        config: HniConfig,
        coi: Sequence[int],
        cache: Cache,
        device: str,
        config_path: str = "hni.toml",
    ):
        self.loaded, self.config, self.coi, self.cache, self.device = loaded, config, list(coi), cache, device
        m, e = config.model, config.extract
        self.seg_config = SegmentationConfig(
            n_segments=tuple(e.segment.n_segments),
            compactness=e.segment.compactness,
            sigma=e.segment.sigma,
            min_area=e.segment.min_area,
            dedupe_jaccard=e.segment.dedupe_jaccard,
        )
        for field_name, layer in (("model.feature_layer", m.feature_layer), ("model.gradcam_layer", m.gradcam_layer)):
            try:
                resolve_layer(loaded.model, layer)
            except ValueError as exc:
                raise ConfigError(config_path, str(exc), field_name) from None
        # Set by a command that computes elsewhere (discovery.analysis_shards): fills the cache for a split's
        # images before `analyse_all` reads them.
        self.prefetch: Callable[[ImageSet, str], None] | None = None
        self.features = make_patch_features(
            e.feature_mode,
            model=loaded.model,
            layer=m.feature_layer,
            input_size=m.input_size,
            mean=m.mean,
            std=m.std,
            device=device,
        )
        self.seg_key = cache_key("segments", e.segment.key())
        # Each key names exactly what its result depends on, so a changed parameter misses only those entries.
        pixels = (m.input_size, list(m.mean), list(m.std))
        self.feat_key = cache_key("features", loaded.sha256, m.feature_layer, e.feature_mode, pixels, self.seg_key)
        # Context features (crop mode) come from the Grad-CAM pass, so they live in its cache entry.
        self.context = e.context_features and e.feature_mode == "crop"
        self._recent: OrderedDict[str, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        # The region only chooses which segments count as candidates: the cached Grad-CAM overlap stays as it is.
        self.whole_image = e.concept_region == "image"
        self.cam_key = cache_key(
            "cams",
            loaded.sha256,
            m.gradcam_layer,
            m.feature_layer,
            e.gradcam_keep,
            self.coi,
            pixels,
            self.seg_key,
            *(["context"] if self.context else []),
        )

    def layers(self, image: np.ndarray, digest: str) -> tuple[np.ndarray, int]:
        """The image's segments as (L, H, W) label layers and their count (cached)."""
        entry = self.cache.get_or_compute("segments", cache_key(self.seg_key, digest), lambda: self._segment(image))
        return entry["layers"].numpy(), int(entry["count"])

    def masks(self, image: np.ndarray, digest: str) -> np.ndarray:
        return decode_masks(*self.layers(image, digest))

    def _segment(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        masks = segment(image, self.seg_config)
        return {"layers": torch.from_numpy(encode_masks(masks)), "count": torch.tensor(len(masks))}

    def analyse(self, images: np.ndarray, digests: Sequence[str]) -> list[ImageAnalysis]:
        """Analyses of a batch of images (cached entries are read, the rest computed together)."""
        out: list[ImageAnalysis | None] = [None] * len(images)
        todo = []
        for i, digest in enumerate(digests):
            feat = self.cache.load("features", cache_key(self.feat_key, digest))
            cams = self.cache.load("cams", cache_key(self.cam_key, digest))
            if feat is not None and cams is not None:
                self.cache.hits += 1
                out[i] = self._combine(feat, cams, digest)
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
            cam_results = (
                self._cams(
                    images[[todo[k][0] for k in need_cams]],
                    [layers[k] for k in need_cams],
                    [masks[k] if k in shared or self.context else None for k in need_cams],
                    pool=[k in shared for k in need_cams],
                )
                if need_cams
                else []
            )
            cam_by_k = dict(zip(need_cams, cam_results))
            feat_by_k = {k: cam_by_k[k].pop("pooled") for k in shared}
            rest = [k for k in need_feats if k not in feat_by_k]
            # One batched call: pool mode then needs one forward pass per batch, not per image.
            computed = self.features.many([images[todo[k][0]] for k in rest], [masks[k] for k in rest])
            feat_by_k.update(zip(rest, computed))
            for k, (i, feat, cams) in enumerate(todo):
                if feat is None:
                    feat = {
                        "features": feat_by_k[k].float().half(),
                        "centres": torch.from_numpy(mask_centres(masks[k])).float(),
                    }
                    self.cache.save("features", cache_key(self.feat_key, digests[i]), feat)
                if cams is None:
                    cams = {key: value for key, value in cam_by_k[k].items() if key != "pooled"}
                    self.cache.save("cams", cache_key(self.cam_key, digests[i]), cams)
                out[i] = self._combine(feat, cams, digests[i])
        return out  # type: ignore[return-value]

    def cached(self, digest: str) -> bool:
        """Whether the image's analysis (patch features and Grad-CAM pass) is in the cache."""
        return self.cache.has("features", cache_key(self.feat_key, digest)) and self.cache.has(
            "cams", cache_key(self.cam_key, digest)
        )

    def _combine(self, feat: dict[str, torch.Tensor], cams: dict[str, torch.Tensor], digest: str) -> ImageAnalysis:
        context = cams["context"].half().numpy() if "context" in cams else None
        inside = cams["inside"].numpy()
        if self.whole_image:
            inside = np.ones_like(inside)
        return ImageAnalysis(
            feat["features"].float().numpy(),
            feat["centres"].numpy(),
            inside,
            cams["logits"].numpy(),
            cams["gradient"].float().numpy(),
            context,
            stored=(lambda: self._stored(digest)) if self.cache.enabled else None,
        )

    def _stored(self, digest: str) -> tuple[np.ndarray, np.ndarray | None]:
        """An image's features (and context features) as the cache holds them; the last few stay in memory."""
        if digest in self._recent:
            self._recent.move_to_end(digest)
            return self._recent[digest]
        feat = self.cache.load("features", cache_key(self.feat_key, digest))
        cams = self.cache.load("cams", cache_key(self.cam_key, digest)) if self.context else {}
        if feat is None or cams is None:
            raise HniError(
                f"{self.cache.root}: the cached analysis of image {digest} went missing during the run "
                "(was the cache cleared?); run the command again"
            )
        found = (feat["features"].float().numpy(), cams["context"].half().numpy() if "context" in cams else None)
        self._recent[digest] = found
        if len(self._recent) > RECENT_ANALYSES:
            self._recent.popitem(last=False)
        return found

    def _pool_shares_cam_pass(self) -> bool:
        return isinstance(self.features, PoolFeatures) and self.features.run_size == self.config.model.input_size

    def _cams(
        self,
        images: np.ndarray,
        layers: list[tuple[np.ndarray, int]],
        pool_masks: list[np.ndarray | None] | None = None,
        pool: list[bool] | None = None,
    ) -> list[dict[str, Any]]:
        """One forward pass per batch: logits, each class of interest's Grad-CAM, TCAV gradients, and
        each segment's feature-layer map averaged inside it (where ``pool_masks`` gives an image's masks):
        the image's pool-mode patch features under "pooled" where ``pool`` says so, and its context
        features under "context" when those are on."""
        m = self.config.model
        x = to_tensor(images, m.mean, m.std).to(self.device)
        with mixed_precision(self.device), GradCam(self.loaded.model, m.gradcam_layer, also=m.feature_layer) as cam:
            passed = cam.per_class(x, self.coi)
        assert passed.also is not None and passed.also_gradients is not None  # `also` was given
        logits, feat = passed.logits.float(), passed.also.float()  # (B, K), (B, D, h, w); float32 even from bf16
        grads = passed.also_gradients.float().unbind(1)  # n x (B, D)
        # No min-max normalisation: binarize keeps the top pixels by rank, which a monotone rescaling keeps.
        cam_maps = passed.maps.float()  # (B, n, H, W)
        regions = binarize(cam_maps.flatten(0, 1), self.config.extract.gradcam_keep).view_as(cam_maps)
        results: list[dict[str, Any]] = []
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
            if pool_masks is not None and (image_masks := pool_masks[b]) is not None:
                pooled = _pool_by_labels(feat[b], label_layers, count)
                if pooled is None:  # the map does not tile the image evenly: the general path
                    pooled = pool_map(feat[b], image_masks)  # (S, C)
            entry = {
                "pooled": pooled if pool is None or pool[b] else None,
                "inside": torch.from_numpy(inside.astype(np.float32)),
                "logits": logits[b].float(),
                "gradient": torch.stack([g[b] for g in grads]).half(),
            }
            if self.context:
                assert pooled is not None  # with context on, every image's masks are passed to be pooled
                entry["context"] = pooled.float().half()
            results.append(entry)
        return results


def analyse_all(
    analyser: Analyser, data: ImageSet, desc: str, batch: int = 32, *, hold: bool = True
) -> list[ImageAnalysis]:
    """Every image's analysis, in order; with ``hold=False`` each is released as soon as it is made (its
    features are read back from the cache when used), so memory does not grow with the split."""
    if analyser.prefetch is not None:
        analyser.prefetch(data, desc)
    out: list[ImageAnalysis] = []
    order = [np.arange(start, min(start + batch, len(data))) for start in range(0, len(data), batch)]
    with bar(len(data), desc, "img") as progress:
        for idx, pixels in zip(order, batches(data.images, order)):  # decoded ahead by DataLoader workers
            found = analyser.analyse(pixels, [data.digests[i] for i in idx])
            if not hold:
                for analysis in found:
                    analysis.release()
            out.extend(found)
            progress.update(len(idx))
    return out


def candidate_patches(
    analyses: Sequence[ImageAnalysis], n_defined: int, *, context: bool = False
) -> list[ImagePatches]:
    """Each image's patches, with a candidate row per class of interest and one per defined class.

    A defined class has no Grad-CAM region (the network never saw it), so every patch is a candidate for
    it. Without ``context`` (the default) the nodes carry crop features alone: the GRN `hni apply`
    retrains on edited graphs reasons on the approved concepts alone.
    """
    out = []
    for a in analyses:
        rows = a.inside > 0
        if n_defined:
            rows = np.concatenate([rows, np.ones((n_defined, rows.shape[1]), dtype=bool)])
        out.append(a.patches(rows, context=context))
    return out
