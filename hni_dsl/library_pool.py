"""One concept of a class's pool as ``library.json`` records it, with the evidence measured for it:
importance by deletion with its interval and p-value, where it sits, whether it is stable across seeds,
the network's errors on images that show it, and TCAV beside them."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator

__all__ = ["Confusion", "ErrorAnalysis", "LibraryModel", "PoolConcept", "optional_number"]


class LibraryModel(BaseModel):
    """Every part of the library: frozen, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def optional_number(description: str, *, unit: bool = False) -> Any:
    """A strict, finite number written only when known (so hand-made libraries stay short); in [0, 1] if ``unit``."""
    return Field(
        default=None,
        ge=0 if unit else None,
        le=1 if unit else None,
        strict=True,
        allow_inf_nan=False,
        exclude_if=lambda v: v is None,
        description=description,
    )


class Confusion(LibraryModel):
    true: str = Field(description="the image's class")
    predicted: str = Field(description="what the network said")
    images: int = Field(ge=0, strict=True, description="test images with the concept confused this way")


class ErrorAnalysis(LibraryModel):
    """The network's test accuracy on images that show the concept and on those that do not."""

    accuracy_with: float | None = Field(ge=0, le=1, strict=True, allow_inf_nan=False)
    accuracy_without: float | None = Field(ge=0, le=1, strict=True, allow_inf_nan=False)
    images_with: int = Field(ge=0, strict=True)
    images_without: int = Field(ge=0, strict=True)
    confusions: tuple[Confusion, ...] = Field(default=(), description="mistakes on images with it, most first")


class PoolConcept(LibraryModel):
    """One discovered concept of a class's pool. ``id`` is ``<class>/<key>`` and never changes meaning."""

    id: str = Field(min_length=3, pattern=r"^[^/\s]+(/[^/\s]+)+$", description="stable concept id, <class>/<key>")
    importance: float = Field(
        ge=0,
        le=1,
        strict=True,
        allow_inf_nan=False,
        description="share of the class's evidence the concept carries (deletion test: the mean logit drop when "
        "its patches are erased, over the drop when the whole image is); the pool is ranked by logit_drop where "
        "there is one, else by this",
    )
    label: str | None = Field(default=None, description="optional human label, e.g. 'ladder'")
    exemplars: tuple[str, ...] = Field(default=(), description="exemplar patch images, relative to the library")
    images: int | None = Field(default=None, ge=0, strict=True, description="distinct images the concept was found in")
    # Written only when known, so hand-made libraries stay short.
    logit_drop: float | None = optional_number(
        "mean drop of the class logit when the concept's patches are erased (negative: erasing raises it)"
    )
    interval: tuple[StrictFloat, StrictFloat] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="95% bootstrap interval over images of logit_drop",
    )
    p_value: float | None = optional_number(
        "significance of the importance, corrected for the pool's size (the method is in meta.importance)", unit=True
    )
    area: float | None = optional_number(
        "median share of an image the concept's patches cover, where it is found", unit=True
    )
    place: str | None = Field(
        default=None,
        max_length=64,
        exclude_if=lambda v: v is None,
        description="where in their images the concept's patches sit, e.g. 'top left (62%)' or 'spread out'",
    )
    context: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="picture of the concept in its images (patches outlined, a heat map of their positions), "
        "relative to the library",
    )
    stable: bool | None = Field(
        default=None,
        strict=True,
        exclude_if=lambda v: v is None,
        description="whether discovery with another seed found the concept again",
    )
    errors: ErrorAnalysis | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="the network's test accuracy with and without the concept in the image, and its confusions",
    )
    tcav: float | None = optional_number(
        "TCAV score: fraction of class images whose logit gradient agrees with the concept's CAV", unit=True
    )
    directional: float | None = optional_number("TCAV mean directional derivative")
    tcav_p_value: float | None = optional_number(
        "TCAV significance: one-sided p-value of scores above random CAVs (uncorrected)", unit=True
    )

    @field_validator("interval")
    @classmethod
    def _finite_ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            lo, hi = value
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"interval must be two finite numbers, low first (got [{lo}, {hi}])")
        return value
