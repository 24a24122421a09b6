"""Rasterising primitives: a part's shape, texture and colour onto a supersampled canvas, and backgrounds.

Coordinates (u, v) are part-local in units of the part's radius; masks are exact inside tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import cast

import numpy as np

from hni_engine.data.synthetic.spec import Colour, Part, Shape, Texture

__all__ = ["paint", "paint_background"]


_RGB: Mapping[Colour, tuple[int, int, int]] = MappingProxyType(
    {
        Colour.RED: (222, 38, 38),
        Colour.ORANGE: (245, 140, 25),
        Colour.YELLOW: (245, 222, 40),
        Colour.GREEN: (40, 170, 60),
        Colour.CYAN: (30, 205, 215),
        Colour.BLUE: (40, 80, 235),
        Colour.PURPLE: (150, 55, 205),
        Colour.PINK: (250, 130, 185),
        Colour.BROWN: (140, 82, 35),
        Colour.WHITE: (246, 246, 246),
        Colour.BLACK: (22, 22, 22),
    }
)


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho, phi = np.hypot(u, v), np.arctan2(u, -v)
    return cast(np.ndarray, rho <= 0.45 + 0.55 * (0.5 + 0.5 * np.cos(5 * phi)) ** 2)


_SHAPES: Mapping[Shape, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {
        Shape.DISC: lambda u, v: u * u + v * v <= 1.0,
        Shape.SQUARE: lambda u, v: (np.abs(u) <= 0.82) & (np.abs(v) <= 0.82),
        Shape.TRIANGLE: lambda u, v: (v <= 0.6) & (v >= -1.0 + 1.6 / 0.92 * np.abs(u)),
        Shape.BAR: lambda u, v: (np.abs(u) <= 1.0) & (np.abs(v) <= 0.3),
        Shape.RING: lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.3),
        Shape.CROSS: lambda u, v: (
            ((np.abs(u) <= 0.95) & (np.abs(v) <= 0.3)) | ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95))
        ),
        Shape.DIAMOND: lambda u, v: np.abs(u) + np.abs(v) <= 1.0,
        Shape.HEXAGON: lambda u, v: (np.abs(v) <= 0.866) & (0.866 * np.abs(u) + 0.5 * np.abs(v) <= 0.866),
        Shape.STAR: _star,
        Shape.SEMICIRCLE: lambda u, v: (u * u + (v - 0.45) ** 2 <= 1.0) & (v <= 0.45),
    }
)

# True where the part shows its own colour, False where it shows the contrasting shade.
_TEXTURES: Mapping[Texture, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {
        Texture.SOLID: lambda u, v: np.ones(u.shape, dtype=bool),
        Texture.STRIPES: lambda u, v: np.floor((u + 4.0) / 0.4) % 2 == 0,
        Texture.DOTS: lambda u, v: ((u + 4.0) % 0.66 - 0.33) ** 2 + ((v + 4.0) % 0.66 - 0.33) ** 2 > 0.2**2,
        Texture.CHECKER: lambda u, v: (np.floor((u + 4.0) / 0.5) + np.floor((v + 4.0) / 0.5)) % 2 == 0,
    }
)


def _shade(rgb: np.ndarray) -> np.ndarray:
    # Dark colours get a light pattern, light ones a dark pattern, so every texture stays visible.
    return rgb + (1.0 - rgb) * 0.65 if rgb.mean() < 0.3 else rgb * 0.3


def paint(
    canvas: np.ndarray, part: Part, cx: float, cy: float, radius: float, angle_deg: float, gain: float
) -> tuple[float, float, float, float] | None:
    """Draw ``part`` opaquely onto the RGBA ``canvas`` (H, W, 4) in place; return its box (x0, y0, x1, y1)."""
    height, width, _ = canvas.shape
    x0, x1 = max(0, math.floor(cx - radius)), min(width, math.ceil(cx + radius) + 1)
    y0, y1 = max(0, math.floor(cy - radius)), min(height, math.ceil(cy + radius) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    dy, dx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = (dx + 0.5 - cx) / radius, (dy + 0.5 - cy) / radius
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotate pixel offsets into the part's frame
    mask = _SHAPES[part.shape](u, v)
    if not mask.any():
        return None
    rgb = np.clip(np.asarray(_RGB[part.colour], dtype=np.float32) / 255.0 * gain, 0.0, 1.0)
    colour = np.where(_TEXTURES[part.texture](u, v)[..., None], rgb, _shade(rgb))  # (h, w, 3)
    canvas[y0:y1, x0:x1, :3][mask] = colour[mask]
    canvas[y0:y1, x0:x1, 3][mask] = 1.0
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return float(x0 + cols[0]), float(y0 + rows[0]), float(x0 + cols[-1] + 1), float(y0 + rows[-1] + 1)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """Low-frequency colour noise (size, size, 3): a coarse random grid, bilinearly interpolated."""
    grid = rng.normal(0.0, amplitude, (3, cells, cells)).astype(np.float32)
    pos = (np.arange(size, dtype=np.float32) + 0.5) / size * (cells - 1)
    lo = np.minimum(pos.astype(int), cells - 2)
    frac = pos - lo
    weights = np.zeros((size, cells), dtype=np.float32)  # (size, cells) interpolation matrix
    weights[np.arange(size), lo] = 1.0 - frac
    weights[np.arange(size), lo + 1] = frac
    return (weights @ grid @ weights.T).transpose(1, 2, 0)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return (v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)).astype(np.float32)


def paint_background(rng: np.random.Generator, size: int) -> np.ndarray:
    # Muted colours keep the saturated parts the most salient thing in the image.
    c0, c1 = (_hsv_to_rgb(rng.uniform(), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.8)) for _ in range(2))
    theta = rng.uniform(0.0, 2.0 * math.pi)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    t = np.clip(0.5 + math.cos(theta) * coords[None, :] + math.sin(theta) * coords[:, None], 0.0, 1.0)
    canvas = c0 * (1.0 - t[..., None]) + c1 * t[..., None]
    return cast(np.ndarray, canvas + _smooth_noise(rng, size, 5, 0.05))
