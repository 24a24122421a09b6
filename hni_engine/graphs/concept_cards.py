"""A concept in its images: what a reviewer needs to tell an object part from a corner marker or background.

Each card shows, for a few of the concept's member patches, the whole image downscaled with the patch
outlined beside the zoomed patch; and a heat map of where all the concept's patches sit in their images
(a concept pinned to one corner is one hot cell). Its caption gives the patch's size as a share of the
image and the images the patches come from. Extraction writes one card per pool concept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["CARD_MEMBERS", "HEAT_CELLS", "ConceptPlace", "concept_card", "place_summary", "position_grid"]

CARD_MEMBERS = 3  # member patches shown in context
HEAT_CELLS = 8  # the heat map's grid is HEAT_CELLS x HEAT_CELLS cells over the image
_CONTEXT, _ZOOM, _GAP, _TOP = 112, 64, 8, 34
_OUTLINE = (255, 32, 32)
_GRAY = np.uint8(117)  # ACE's fill for the zoom's background


@dataclass(frozen=True)
class ConceptPlace:
    """Where a concept sits and how large it is: for the library and `hni show`."""

    area: float  # median share of an image the concept's patches cover
    region: str  # the third of the image most patches sit in, e.g. "top left", or "spread out"
    region_share: float  # share of patches in that ninth of the image
    patches: int  # patches the figures come from

    def text(self) -> str:
        """ "top left (62%)", or "spread out"."""
        return self.region if self.region in ("spread out", "nowhere") else f"{self.region} ({self.region_share:.0%})"


def position_grid(centres: np.ndarray, cells: int = HEAT_CELLS) -> np.ndarray:
    """(cells, cells) counts of the normalised (x, y) centres, row 0 at the top."""
    grid = np.zeros((cells, cells))
    if len(centres):
        cols = np.clip((centres[:, 0] * cells).astype(int), 0, cells - 1)
        rows = np.clip((centres[:, 1] * cells).astype(int), 0, cells - 1)
        np.add.at(grid, (rows, cols), 1)
    return grid


def place_summary(centres: np.ndarray, area: float) -> ConceptPlace:
    """The ninth of the image (3 x 3) holding most patch centres; "spread out" when none holds a third."""
    grid = position_grid(centres, 3)
    total = grid.sum()
    if not total:
        return ConceptPlace(area, "nowhere", 0.0, 0)
    row, col = np.unravel_index(int(grid.argmax()), grid.shape)
    share = float(grid[row, col] / total)
    names = (("top left", "top", "top right"), ("left", "centre", "right"), ("bottom left", "bottom", "bottom right"))
    region = names[row][col] if share >= 1 / 3 else "spread out"
    return ConceptPlace(area, region, share, int(total))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _in_context(image: np.ndarray, mask: np.ndarray) -> tuple[Image.Image, Image.Image]:
    """The whole image downscaled with the patch outlined (its box and its boundary), and the zoom."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    whole = Image.fromarray(image).resize((_CONTEXT, _CONTEXT), Image.Resampling.BILINEAR)
    small = np.asarray(Image.fromarray(mask).resize((_CONTEXT, _CONTEXT), Image.Resampling.NEAREST))
    inner = small.copy()
    inner[1:-1, 1:-1] = small[1:-1, 1:-1] & small[:-2, 1:-1] & small[2:, 1:-1] & small[1:-1, :-2] & small[1:-1, 2:]
    pixels = np.asarray(whole).copy()
    pixels[small & ~inner] = _OUTLINE  # the segment's boundary
    whole = Image.fromarray(pixels)
    sx, sy = _CONTEXT / w, _CONTEXT / h
    ImageDraw.Draw(whole).rectangle(
        (xs.min() * sx - 2, ys.min() * sy - 2, (xs.max() + 1) * sx + 1, (ys.max() + 1) * sy + 1), outline=_OUTLINE
    )
    filled = np.where(mask[..., None], image, _GRAY)[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    zoom = Image.fromarray(filled).resize((_ZOOM, _ZOOM), Image.Resampling.NEAREST)
    return whole, zoom


def _heat(grid: np.ndarray, size: int) -> Image.Image:
    """Counts as white (none) to dark red (the most), one block per cell, with a thin frame."""
    top = grid.max() if grid.max() > 0 else 1.0
    t = (grid / top)[..., None]
    colours = (np.array([255, 255, 255]) * (1 - t) + np.array([165, 15, 21]) * t).astype(np.uint8)
    heat = Image.fromarray(colours).resize((size, size), Image.Resampling.NEAREST)
    ImageDraw.Draw(heat).rectangle((0, 0, size - 1, size - 1), outline=(120, 120, 120))
    return heat


def concept_card(
    title: str,
    members: Sequence[tuple[np.ndarray, np.ndarray, str]],
    centres: np.ndarray,
    place: ConceptPlace,
    images: int,
    of_images: int,
) -> Image.Image:
    """One concept's card.

    Args:
        title: the concept's id.
        members: up to CARD_MEMBERS (image (H, W, 3) uint8, mask (H, W) bool, image file name).
        centres: (P, 2) normalised (x, y) centres of all the concept's patches, for the heat map.
        place: size and place summary of those patches.
        images, of_images: the discovery images the concept was found in, and how many there were.
    """
    shown = list(members[:CARD_MEMBERS])
    pair = _CONTEXT + 4 + _ZOOM
    width = max(1, len(shown)) * (pair + _GAP) + _CONTEXT + 2 * _GAP
    card = Image.new("RGB", (width, _TOP + _CONTEXT + 22), (255, 255, 255))
    draw = ImageDraw.Draw(card)
    caption = (
        f"{title}: patch ~{place.area:.1%} of its image (median); in {images} of {of_images} discovery images; "
        f"sits: {place.text()}"
    )
    draw.text((_GAP, 6), caption, fill=(30, 30, 30), font=_font(12))
    for k, (image, mask, name) in enumerate(shown):
        x = _GAP + k * (pair + _GAP)
        whole, zoom = _in_context(image, mask)
        card.paste(whole, (x, _TOP))
        card.paste(zoom, (x + _CONTEXT + 4, _TOP))
        draw.text((x, _TOP + _CONTEXT + 4), name[-24:], fill=(120, 120, 120), font=_font(10))
    x = width - _CONTEXT - _GAP
    card.paste(_heat(position_grid(centres), _CONTEXT), (x, _TOP))
    draw.text((x, _TOP + _CONTEXT + 4), f"where its {place.patches} patches sit", fill=(120, 120, 120), font=_font(10))
    return card
