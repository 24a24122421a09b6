"""The workspace: its paths (store.layout), its configuration and its data."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from hni_engine.data.images import ImageSet, load_image_folder, scan_image_folder
from hni_engine.store.config import HniConfig, load_config
from hni_engine.store.layout import Layout, WorkspaceError

__all__ = ["Workspace", "WorkspaceError"]


class Workspace(Layout):
    """A workspace folder: its paths, its validated hni.toml and its images."""

    @property
    def model_path(self) -> Path:
        return self.resolve(self.config.model.checkpoint)

    @cached_property
    def config(self) -> HniConfig:
        if not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: no such workspace folder")
        return load_config(self.config_path)

    # -- data ----------------------------------------------------------------------------------
    def data_classes(self) -> list[str]:
        classes, _ = scan_image_folder(self.resolve(self.config.data.train))
        return classes

    def load_split(
        self, split: str, classes: list[str], progress: Callable[[int, int], None] | None = None
    ) -> ImageSet:
        root = self.resolve(getattr(self.config.data, split))
        return load_image_folder(root, self.config.model.input_size, classes, progress, extra_ok=(split == "test"))

    def classes_of_interest(self, known: list[str]) -> list[str]:
        chosen = list(self.config.classes) or list(known)
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise WorkspaceError(
                f"{self.config_path}: field 'classes': {', '.join(map(repr, unknown))} "
                f"not among the data's classes ({', '.join(known)})"
            )
        return chosen
