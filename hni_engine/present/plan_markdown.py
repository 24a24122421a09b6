"""`hni plan --format markdown`: the plan as a pull-request comment, the way infrastructure plans are posted.

The Markdown renders on the usual git hosts: for each changed class, its c-SCG before and after as pictures
side by side, the concepts that enter or leave the graph as exemplar strips, then the plan's own text (the
reviewable diff) and the hashes that bind the plan to its library and scripts. Pictures are PNG files
written into an images folder; the Markdown links them by paths relative to itself, so the file and its
folder can be committed or uploaded together. Without an images folder the Markdown has the text only.

No torch: pictures are drawn with PIL from the library's exemplar files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from hni_dsl.fileio import atomic_write_text
from hni_dsl.formatter import format_class_name
from hni_dsl.library import ClassEntry, Library
from hni_dsl.plan import Plan
from hni_engine.present.exemplars import exemplar_files
from hni_engine.present.picture_output import Picture, write_png
from hni_engine.present.pictures import scg_picture

__all__ = [
    "STRIP_PATCH",
    "MarkdownPlan",
    "exemplar_strip",
    "plan_markdown",
    "relative_link",
    "write_markdown_plan",
]

Linker = Callable[[str, Picture], "str | None"]  # picture file name, picture -> its link (None: no pictures)

STRIP_PATCH = 48  # px of one exemplar in a strip
STRIP_COUNT = 6  # exemplars per concept


@dataclass
class MarkdownPlan:
    text: str
    pictures: dict[str, Picture]  # file name in the images folder -> picture


def exemplar_strip(library: Library, concept_id: str, concepts_dir: Path, library_dir: Path | None) -> Picture:
    """Up to six exemplar patches of a concept in a row (a gray box where there is no readable file)."""
    concept = library.concept(concept_id)
    paths = exemplar_files(concept.exemplars if concept else (), concepts_dir, library_dir)[:STRIP_COUNT]
    tiles = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                tiles.append(opened.convert("RGB").resize((STRIP_PATCH, STRIP_PATCH), Image.Resampling.NEAREST))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue  # an unreadable exemplar is left out; the strip still names the concept
    count = max(1, len(tiles))
    strip = Image.new("RGB", (count * (STRIP_PATCH + 4) + 4, STRIP_PATCH + 8), (255, 255, 255))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (4 + i * (STRIP_PATCH + 4), 4))
    if not tiles:
        ImageDraw.Draw(strip).rectangle((4, 4, 4 + STRIP_PATCH, 4 + STRIP_PATCH), fill=(200, 200, 200))
    return Picture(strip, [])


def _file_name(class_name: str, what: str, index: int) -> str:
    """A portable file name for a class's picture: the class's position keeps names distinct whatever the
    class is called (spaces, accents)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in class_name)[:40]
    return f"{index:02d}-{safe}-{what}.png"


def _md(text: str) -> str:
    """Text safe inside Markdown (and the HTML a host renders it to): no tags, no emphasis, no links."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#!":
        out = out.replace(ch, "\\" + ch)
    return out


def _code(text: str) -> str:
    """``text`` as a Markdown code span whatever it holds: a fence longer than any run of backticks in it, and
    no line break (a span cannot hold one)."""
    flat = " ".join(text.splitlines())
    runs = [len(r) for r in re.findall(r"`+", flat)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _concept_line(library: Library, cid: str, link: str | None) -> str:
    concept = library.concept(cid)
    label = f' "{_md(concept.label)}"' if concept is not None and concept.label else ""
    picture = f"<br>![exemplars of {_md(cid)}]({link})" if link else ""
    return f"{_code(cid)}{label}{picture}"


def plan_markdown(
    plan: Plan,
    before: Library,
    after: Library,
    concepts_dir: Path,
    library_dir: Path | None,
    images_link: str | None,
) -> MarkdownPlan:
    """The Markdown text and the pictures it links (under ``images_link``, relative to the Markdown file;
    None: text only)."""
    pictures: dict[str, Picture] = {}

    def link(name: str, picture: Picture) -> str | None:
        if images_link is None:
            return None
        pictures[name] = picture
        return f"{images_link}/{name}"

    lines = [
        "# hni plan",
        "",
        f"{_md(_summary(plan))}",
        "",
        f"- library: {_code(plan.library)} (sha256 `{plan.library_sha256[:12]}`, after the plan "
        f"`{plan.library_after_sha256[:12]}`)",
    ]
    lines += [f"- script: {_code(ref.path)} (sha256 `{ref.sha256[:12]}`, {_md(ref.status)})" for ref in plan.scripts]
    changed = [e for e in after.classes if before.get(e.name) != e]
    for index, entry in enumerate(changed, start=1):
        old = before.get(entry.name)
        title = format_class_name(entry.name)
        lines += ["", f"## {'~' if old is not None else '+'} {_md(title)}", ""]
        lines += _graphs(index, entry, old, before, after, concepts_dir, library_dir, link)
        lines += _concepts(index, entry, old, before, after, concepts_dir, library_dir, link)
    lines += ["", "## The plan", "", "```", plan.text.rstrip().replace("```", "'''"), "```", ""]
    if images_link is None:
        lines.append("_Pictures: run `hni plan --format markdown -o FILE --images DIR`._")
        lines.append("")
    return MarkdownPlan("\n".join(lines), pictures)


def _summary(plan: Plan) -> str:
    """The plan text's own last line ("2 classes changed; 1 concept replaced"), as a sentence."""
    last = plan.text.rstrip().splitlines()[-1] if plan.text.strip() else "no changes"
    return last[:1].upper() + last[1:].rstrip(".") + "."


def _graphs(
    index: int,
    entry: ClassEntry,
    old: ClassEntry | None,
    before: Library,
    after: Library,
    concepts_dir: Path,
    library_dir: Path | None,
    link: Linker,
) -> list[str]:
    after_link = link(_file_name(entry.name, "after", index), scg_picture(after, entry, concepts_dir, library_dir))
    if after_link is None:
        return []
    if old is None:
        return ["| c-SCG (new class) |", "|---|", f"| ![c-SCG of {_md(entry.name)}]({after_link}) |"]
    before_link = link(_file_name(entry.name, "before", index), scg_picture(before, old, concepts_dir, library_dir))
    return [
        "| c-SCG before | c-SCG after |",
        "|---|---|",
        f"| ![c-SCG of {_md(entry.name)} before]({before_link}) | ![c-SCG of {_md(entry.name)} after]({after_link}) |",
    ]


def _concepts(
    index: int,
    entry: ClassEntry,
    old: ClassEntry | None,
    before: Library,
    after: Library,
    concepts_dir: Path,
    library_dir: Path | None,
    link: Linker,
) -> list[str]:
    """The concepts that enter and leave the class's graph (and its forbidden list), each with its exemplars."""
    was = set(old.graph.nodes) if old is not None else set()
    now = set(entry.graph.nodes)
    groups = [
        ("enters the c-SCG", [c for c in entry.graph.nodes if c not in was]),
        ("leaves the c-SCG", [c for c in (old.graph.nodes if old else ()) if c not in now]),
        ("newly forbidden", [c for c in entry.forbidden if old is None or c not in old.forbidden]),
    ]
    lines: list[str] = []
    for what, ids in groups:
        if not ids:
            continue
        lines += ["", f"{what}:", ""]
        for cid in ids:
            source = after if after.concept(cid) is not None else before
            strip = exemplar_strip(source, cid, concepts_dir, library_dir)
            name = _file_name(entry.name, f"concept-{len(lines)}", index)
            lines.append(f"- {_concept_line(source, cid, link(name, strip))}")
    return lines


def write_markdown_plan(plan: MarkdownPlan, markdown_path: Path, images_dir: Path | None) -> None:
    """The pictures first (the Markdown links them), then the Markdown, each file written atomically."""
    if images_dir is not None:
        images_dir.mkdir(parents=True, exist_ok=True)
        for name, picture in plan.pictures.items():
            write_png(picture, images_dir / name)
    atomic_write_text(markdown_path, plan.text)


def relative_link(markdown_path: Path, images_dir: Path) -> str:
    """``images_dir`` as a link from the Markdown file's folder (POSIX separators, as Markdown wants)."""
    return Path(os.path.relpath(images_dir.resolve(), markdown_path.resolve().parent)).as_posix()
