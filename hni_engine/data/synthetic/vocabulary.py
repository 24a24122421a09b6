"""The shared part vocabulary of the presets: every part a product of a shape, a colour and a texture."""

from __future__ import annotations

from hni_engine.data.synthetic.spec import Colour, Part, Shape, Texture

__all__ = ["VOCABULARY"]


def _part(colour: str, texture: str, shape: str) -> Part:
    return Part(f"{colour}_{texture}_{shape}", Shape(shape), Colour(colour), Texture(texture))


VOCABULARY: tuple[Part, ...] = tuple(
    _part(*spec.split())
    for spec in (
        # zeroshot parts: each used by two of the classes A-H
        "red solid disc",
        "blue stripes square",
        "yellow dots triangle",
        "green checker square",
        "orange solid triangle",
        "purple stripes disc",
        "cyan solid cross",
        "pink dots square",
        "blue solid diamond",
        "green solid ring",
        "orange checker disc",
        "white stripes bar",
        # spurious parts; the look-alike vehicle pairs differ in one small part of a neighbouring hue
        "red solid bar",
        "white dots square",
        "blue solid ring",
        "yellow solid triangle",
        "yellow solid square",
        "black solid disc",
        "red stripes disc",
        "orange dots disc",
        "red dots disc",
        "green solid bar",
        "purple solid square",
        "orange stripes bar",
        "orange solid ring",
        "red solid ring",
        "cyan stripes square",
        "purple dots triangle",
        "yellow dots disc",
        "pink solid ring",
        "blue solid disc",
        "cyan checker triangle",
        "yellow checker square",
        # posebias's shared body (its wheel and top parts are spurious parts too)
        "green stripes bar",
        # spare parts, seen only as clutter
        "yellow stripes cross",
        "yellow stripes triangle",
        "blue dots disc",
        # context objects and clutter: shapes no object part uses
        "white checker hexagon",
        "orange stripes hexagon",
        "green solid star",
        "purple checker diamond",
        "cyan stripes semicircle",
        "brown solid star",
        "pink checker semicircle",
        "brown dots hexagon",
        "black stripes diamond",
        "white solid star",
        "red checker semicircle",
        "blue stripes star",
    )
)
