"""Where every file of a workspace lives, without reading any of them (and without torch).

```
hni.toml                 configuration (hni_engine.store.config)
data/{train,test}/...    the built-in synthetic data (a user's own data may live anywhere)
model/base.pt            the original network (hni.toml's model.checkpoint)
concepts/library.json    the symbolic concept library (reviewed)
concepts/anchors.pt      its numeric side: anchors and matching thresholds keyed by concept id
concepts/patches/...     exemplar patches per concept (for people)
concepts/grn.pt          the graph reasoning network that mimics the original network
concepts/extract.json    what extraction measured (fidelity, timings, cache use)
concepts/data.json       the data extraction saw: a sha256 of every image file (hni_engine.store.datahash)
edits/*.hni              edit scripts, applied in file-name order
names.txt                people's names for concepts (`hni name`, hni_engine.store.names)
runs/<id>/, runs/HEAD    what `hni apply` made, and which run is current (hni_engine.store.runs)
.hni/cache/              content-addressed stage results, safe to delete
.hni/ray-train/          Ray Train checkpoints of `--backend ray` (GRN, student), removed once loaded
```
"""

from __future__ import annotations

from pathlib import Path

from hni_dsl.errors import HniError

__all__ = ["Layout", "WorkspaceError", "inside"]


class WorkspaceError(HniError):
    """The workspace is missing something, or holds something inconsistent."""


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` resolves (symlinks followed, `..` applied) to ``folder`` or something below it."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True


class Layout:
    """The paths of one workspace folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def resolve(self, relative: str) -> Path:
        """A path from hni.toml: relative ones are relative to the workspace."""
        path = Path(relative)
        return path if path.is_absolute() else self.root / path

    def contains(self, path: str | Path) -> bool:
        """Whether ``path`` (relative to the workspace, or absolute) resolves inside it, symlinks followed."""
        return inside(self.resolve(str(path)), self.root)

    @property
    def config_path(self) -> Path:
        return self.root / "hni.toml"

    @property
    def concepts_dir(self) -> Path:
        return self.root / "concepts"

    @property
    def library_path(self) -> Path:
        return self.concepts_dir / "library.json"

    @property
    def anchors_path(self) -> Path:
        return self.concepts_dir / "anchors.pt"

    @property
    def patches_dir(self) -> Path:
        return self.concepts_dir / "patches"

    @property
    def grn_path(self) -> Path:
        return self.concepts_dir / "grn.pt"

    @property
    def extract_report_path(self) -> Path:
        return self.concepts_dir / "extract.json"

    @property
    def data_manifest_path(self) -> Path:
        return self.concepts_dir / "data.json"

    @property
    def edits_dir(self) -> Path:
        return self.root / "edits"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def head_path(self) -> Path:
        return self.runs_dir / "HEAD"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".hni" / "cache"

    @property
    def ray_train_dir(self) -> Path:
        """Where `--backend ray` has Ray Train put its checkpoints (the GRN's, the student's; removed once loaded)."""
        return self.root / ".hni" / "ray-train"
