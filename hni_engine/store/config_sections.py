"""The sections of `hni.toml`, one typed model each, with the paper's values as defaults.

Each section has a stable `key()` used in cache keys, so changing a parameter invalidates exactly the
cache entries that depend on it. hni_engine.store.config assembles them into the whole file.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "SEED_LIMIT",
    "ComputeConfig",
    "DataConfig",
    "DistillConfig",
    "ExtractConfig",
    "GrnConfig",
    "ModelConfig",
    "Section",
    "SegmentConfig",
    "TrainConfig",
    "config_key",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Numbers are strict (a bool or a string is not a number: `true` is not 1, "3" is not 3) and finite.
# Lists are read as tuples, so their own fields are not strict; their items are.
SEED_LIMIT = 2**32
SegmentCounts = Annotated[tuple[Annotated[int, Field(ge=1, le=10_000)], ...], Field(strict=False, min_length=1)]
Unit = Annotated[float, Field(ge=0, le=1)]


class Section(BaseModel):
    """A table of hni.toml: frozen, no unknown keys, strict types, finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    def key(self) -> str:
        """A short stable digest of this section, for cache keys."""
        return config_key(self.model_dump(mode="json"))


def config_key(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class ModelConfig(Section):
    arch: str = Field(default="resnet18", description="torchvision architecture of the network (e.g. resnet18)")
    checkpoint: str = Field(
        default="model/base.pt",
        description="the network: a state dict, hni checkpoint or whole-model file, relative to the workspace",
    )
    feature_layer: str = Field(default="layer4", description="module whose output gives patch features (e.g. layer4)")
    gradcam_layer: str = Field(default="layer4", description="module where Grad-CAM takes the class logit's gradient")
    input_size: int = Field(default=64, ge=16, le=1024, description="images are resized to this square size, in pixels")
    mean: tuple[Unit, Unit, Unit] = Field(
        default=IMAGENET_MEAN,
        strict=False,
        description="per-channel RGB mean (0-1 scale) subtracted from the input, as in the network's training",
    )
    std: tuple[float, float, float] = Field(
        default=IMAGENET_STD,
        strict=False,
        description="per-channel RGB std (0-1 scale) the input is divided by after subtracting the mean; positive",
    )

    @field_validator("std")
    @classmethod
    def _positive(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive (got {list(std)})")
        return std


class DataConfig(Section):
    train: str = Field(default="data/train", description="training images: ImageFolder root, relative to the workspace")
    test: str = Field(
        default="data/test",
        description="test images (evaluation, held-out fidelity): ImageFolder root, relative to the workspace",
    )


class TrainConfig(Section):
    """`hni train`: training the original network from scratch (for the demo and users without a model)."""

    epochs: int = Field(default=12, ge=1, description="`hni train`: passes over the training images")
    batch_size: int = Field(default=64, ge=1, description="`hni train`: images per optimiser step")
    lr: float = Field(default=1e-3, gt=0, description="`hni train`: peak learning rate of Adam (one-cycle schedule)")
    weight_decay: float = Field(default=1e-4, ge=0, description="`hni train`: L2 weight decay of Adam")
    augment: bool = Field(default=True, description="`hni train`: random shifts of up to 1/8 of the image (no flips)")


class SegmentConfig(Section):
    n_segments: SegmentCounts = Field(
        default=(15, 50, 80), max_length=16, description="SLIC's target number of segments, one entry per resolution"
    )
    compactness: float = Field(default=20.0, gt=0, description="SLIC compactness: higher gives squarer segments")
    sigma: float = Field(
        default=1.0,
        ge=0,
        description="SLIC pre-smoothing width in pixels for 224 px images (scaled down for smaller ones)",
    )
    min_area: float = Field(
        default=0.001, ge=0, lt=1, description="segments covering at most this fraction of the image are dropped"
    )
    dedupe_jaccard: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="a segment overlapping one kept at an earlier resolution above this Jaccard is dropped",
    )


class ExtractConfig(Section):
    # Which mode is the default was measured: BENCHMARKS.md, "P1, P2" and "Pool vs crop features".
    feature_mode: Literal["pool", "crop"] = Field(
        default="pool",
        description=(
            "`crop`: forward each gray-filled segment crop (ACE); `pool`: one pass per image, map averaged per segment"
        ),
    )
    images_per_class: int = Field(
        default=50, ge=2, description="images per class for concept discovery (correctly classified ones first)"
    )
    gradcam_keep: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="fraction of an image's pixels, highest Grad-CAM first, that form a class's Grad-CAM region",
    )
    clusters: int = Field(default=25, ge=2, le=1000, description="k-means clusters per class: the candidate concepts")
    min_cluster_images: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="a concept must occur in this fraction of the discovery images (ACE's frequency rule)",
    )
    cluster_members: int = Field(
        default=40, ge=2, description="patches nearest the cluster centre kept per concept; their mean is its anchor"
    )
    tcav_random_sets: int = Field(
        default=10,
        ge=2,
        le=1000,
        description="random negative sets per TCAV test (for each concept, and for the random-vs-random null)",
    )
    tcav_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="p-value under which a concept's TCAV score counts as significant; significant concepts rank first",
    )
    top_k: int = Field(default=4, ge=1, le=64, description="c-SCG nodes per class: its k most important concepts")
    match_percentile: float = Field(
        default=95.0,
        gt=0,
        le=100,
        description="match threshold: this percentile of a concept's nearest-patch distances over its class's images",
    )
    edges_kept: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="fraction of each c-SCG's edges kept, largest learnt |e_ji| first; the GRN is retrained",
    )
    # BENCHMARKS.md, "Context features in crop mode".
    context_features: bool = Field(
        default=True,
        description="crop mode: each GRN node also gets the image's feature map averaged in its segment (its context)",
    )
    concept_region: Literal["gradcam", "image"] = Field(
        default="gradcam",
        description="where concepts are found and matched: `gradcam` (class's Grad-CAM region, VRX) or `image` (ACE)",
    )
    mimic_turns: int = Field(
        default=0,
        ge=0,
        le=16,
        description="random rotated copies per training image the GRN also mimics (not discovery)",
    )
    segment: SegmentConfig = Field(default=SegmentConfig(), description="multi-resolution SLIC segmentation")


class GrnConfig(Section):
    epochs: int = Field(default=100, ge=1, description="GRN training epochs (in `hni extract` and `hni apply`)")
    batch_size: int = Field(default=32, ge=1, description="images per GRN step (each brings one I-SCG per class)")
    # The papers' 0.01 stalled at chance level; 0.001 converged (BENCHMARKS.md, "NN -> human: GRN fidelity").
    lr: float = Field(default=0.001, gt=0, description="the GRN's initial Adam learning rate (AdamW with weight decay)")
    lr_step: int = Field(default=25, ge=1, description="epochs between the GRN's learning-rate decays (by lr_gamma)")
    lr_gamma: float = Field(default=0.8, gt=0, le=1, description="multiplies the GRN's lr every lr_step epochs")
    # Not in the papers; measured, off by default (BENCHMARKS.md, "GRN weight decay").
    weight_decay: float = Field(
        default=0.0, ge=0, description="AdamW weight decay of `hni extract`'s GRN, which mimics the network (0: Adam)"
    )
    # Measured: 0 leaves every weight at 1 +- 0.05, 0.01 takes all to ~0.01 (BENCHMARKS.md, "Evidence").
    edge_l1: float = Field(default=0.001, ge=0, description="L1 prior on `hni extract`'s GRN edge weights (0: none)")
    # Measured to help the edit, unlike grn.weight_decay (BENCHMARKS.md, "Human -> NN" and "GRN weight decay").
    apply_weight_decay: float = Field(
        default=1.0, ge=0, description="AdamW weight decay of `hni apply`'s GRN, retrained on edited graphs (0: Adam)"
    )
    # So that a run's edge weights (its library, `hni compare`) carry information, as the extraction's do.
    apply_edge_l1: float = Field(default=0.001, ge=0, description="L1 prior on `hni apply`'s GRN edge weights (0: off)")


class DistillConfig(Section):
    """Partial knowledge distillation into the original network (HNI 3.2.3, eq. 1-4).

    alpha and beta are the paper's. The paper's optimiser (SGD lr 0.1, batch 4, 100 epochs) is far too slow
    on two CPU cores; the defaults here were chosen by measurement (see BENCHMARKS.md, "Human -> NN").
    The temperatures follow the paper per kind of edit (hni_engine.edit.distill.TEMPERATURES).
    """

    epochs: int = Field(default=10, ge=1, description="passes over the student's training images in distillation")
    batch_size: int = Field(default=32, ge=1, description="images per distillation step")
    lr: float = Field(default=0.01, gt=0, description="SGD learning rate of the distillation (cosine decay to zero)")
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum of the distillation")
    alpha: float = Field(default=2.5, ge=0, description="weight of the soft-label term (the teachers' combined labels)")
    beta: float = Field(
        default=1.0, ge=0, description="weight of the ground-truth label term; zero-shot runs have none"
    )
    augment: bool = Field(default=True, description="random shifts of the student's input, as in `hni train`")
    # BENCHMARKS.md, "Human -> NN": without erasing, the student can keep its shortcut.
    erase_removed: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="probability an image's removed or forbidden concepts become noise in its own colours; labels stay",
    )
    transplant_removed: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="probability an image gets concepts removed from another class pasted in; labels stay",
    )
    transplant_forbidden: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="probability an image gets a concept another class is forbidden pasted in; labels stay",
    )
    # Equal to extract.mimic_turns, the copies are extraction's own (same seeded angles): their patches are cached.
    turns: int = Field(
        default=0,
        ge=0,
        le=8,
        description="randomly rotated copies per training image the student also learns from, labelled by the teachers",
    )
    composite_images: bool = Field(
        default=False,
        description="zero-shot: also distil on pixel composites of new classes (parts pasted into edges-like images)",
    )
    synthetic_per_class: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="zero-shot: synthesized graphs per new class; 0: the seen classes' mean image count",
    )

    @model_validator(mode="after")
    def _some_loss(self) -> DistillConfig:
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("alpha and beta are both 0: distillation would have no loss to learn from")
        return self


class ComputeConfig(Section):
    """Where the per-image work of `hni extract` runs (README, "Running on a cluster"); results are the same."""

    backend: Literal["local", "ray"] = Field(
        default="local",
        description="`local`: this process; `ray`: Ray tasks on the cluster at RAY_ADDRESS, else a local Ray",
    )
    workers: int = Field(default=2, ge=1, le=4096, description="CPUs a local Ray is started with (one task each)")
    shard_images: int = Field(
        default=256, ge=1, le=100_000, description="images per Ray task; a killed run keeps its finished images"
    )
