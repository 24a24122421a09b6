"""Which exemplar files a picture may read: only those inside the workspace's concepts, never outside it.

A library names each concept's exemplar patches by paths relative to it (`patches/<class>/<key>_0.png`).
A library is an input under review: one that names `../../etc/passwd`, an absolute path or a symlink that
leads out of the folder would otherwise have a file from anywhere read and drawn into a report that is
then mailed around. Such an exemplar is dropped, not read, and the command says so in a warning (the
concept is still drawn, as a gray box with its id, like a concept whose patches are missing).

An exemplar is read when it resolves (symlinks followed) inside `concepts/` (where extraction writes them)
or inside the library's own folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from hni_dsl.library import ClassEntry, Library, PoolConcept
from hni_engine.store.layout import inside

__all__ = ["context_file", "exemplar_files", "refused_exemplars"]


def _bases(concepts_dir: Path, library_dir: Path | None) -> list[Path]:
    return [concepts_dir] + ([library_dir] if library_dir is not None and library_dir != concepts_dir else [])


def _allowed(relative: str, bases: Sequence[Path]) -> bool:
    return not Path(relative).is_absolute() and all(inside(base / relative, base) for base in bases)


def exemplar_files(relative: Iterable[str], concepts_dir: Path, library_dir: Path | None) -> list[Path]:
    """Exemplar files that exist inside the allowed folders: relative to concepts/, else to the library."""
    bases = _bases(concepts_dir, library_dir)
    found = []
    for rel in relative:
        if not _allowed(rel, bases):
            continue
        for base in bases:
            if (base / rel).is_file():
                found.append(base / rel)
                break
    return found


def context_file(concept: PoolConcept, concepts_dir: Path, library_dir: Path | None) -> Path | None:
    """The concept's picture in context, where it exists inside the allowed folders (the same rule)."""
    found = exemplar_files([concept.context] if concept.context else [], concepts_dir, library_dir)
    return found[0] if found else None


def refused_exemplars(
    library: Library, entries: Iterable[ClassEntry], concepts_dir: Path, library_dir: Path | None
) -> list[str]:
    """One warning line per exemplar of ``entries``' concepts that leads outside the allowed folders."""
    bases = _bases(concepts_dir, library_dir)
    where = library_dir / "library.json" if library_dir is not None else concepts_dir / "library.json"
    ids = dict.fromkeys(cid for e in entries for cid in (*(c.id for c in e.pool), *e.graph.nodes))
    lines = []
    for cid in ids:
        concept = library.concept(cid)
        pictures = (*concept.exemplars, *([concept.context] if concept.context else [])) if concept else ()
        for rel in pictures:
            if not _allowed(rel, bases):
                lines.append(
                    f"warning: {where}: concept {cid}: exemplar {rel!r} leads outside "
                    f"{' and '.join(map(str, bases))}; not read"
                )
    return lines
