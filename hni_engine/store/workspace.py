"""The workspace: its paths (store.layout), its configuration and its data."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from hni_engine.data.images import ImageSet, load_image_folder, require_classes, scan_image_folder
from hni_engine.store.config import ConfigError, HniConfig, load_config
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.recorded import config_mismatches, read_recorded

__all__ = ["READS", "Workspace", "WorkspaceError"]

# The stages whose outputs each command reads, so whose recorded configuration it is checked against.
READS: dict[str, tuple[str, ...]] = {
    "extract": ("train",),
    "eval": ("train",),
    "apply": ("train", "extract"),
    "explain": ("train", "extract"),
}
_WHY = {
    "train": "the network was trained on inputs made with those values",
    "extract": "the concepts are patch features made with those values",
}
_REDO = {"train": "`hni train --force`", "extract": "`hni extract`"}


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

    # -- the configuration earlier stages ran with -------------------------------------------------
    def recorded_config(self, stage: str) -> tuple[Path, dict[str, Any]] | None:
        """The configuration ``stage`` (train or extract) recorded beside its output, and the file it is in;
        None when there is none (no such stage ran, or an older hni ran it, or the network was replaced)."""
        path = self.model_path.with_suffix(".json") if stage == "train" else self.extract_report_path
        recorded = read_recorded(path, self.model_path if stage == "train" else None)
        return None if recorded is None else (path, recorded)

    def check_config(self, command: str) -> list[str]:
        """Compare hni.toml with the configuration the stages ``command`` reads from recorded (READS).

        A key that changes how their outputs must be read (STAGE_KEYS' errors, e.g. the network's input size
        or the patch feature mode) raises ConfigError naming every such key, its value now and then; the
        others come back as warning lines for the command to print before it goes on."""
        errors, warnings, redo = [], [], []
        for stage in READS.get(command, ()):
            found = self.recorded_config(stage)
            if found is None:
                continue
            path, recorded = found
            mismatches = config_mismatches(recorded, self.config, stage)
            where = f"when `hni {stage}` ran ({path})"
            wrong = [str(m) for m in mismatches if m.severity == "error"]
            if wrong:
                errors.append(f"{'; '.join(wrong)} {where}: an error for `hni {command}`, since {_WHY[stage]}")
                redo.append(_REDO[stage])
            odd = [str(m) for m in mismatches if m.severity == "warning"]
            if odd:
                warnings.append(
                    f"warning: {self.config_path}: {'; '.join(odd)} {where}; `hni {command}` goes on, "
                    f"but its results are not what hni.toml alone would give"
                )
        if errors:
            raise ConfigError(
                str(self.config_path),
                f"{'; '.join(errors)}; set the values back in hni.toml, or run {' then '.join(redo)} again",
            )
        return warnings

    # -- data ----------------------------------------------------------------------------------
    def data_classes(self) -> list[str]:
        """The training split's class folders; fewer than two is a DataError naming the folder."""
        root = self.resolve(self.config.data.train)
        classes, _ = scan_image_folder(root)
        require_classes(root, classes)
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
