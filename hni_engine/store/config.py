"""The workspace configuration, `hni.toml`: typed, validated, with errors that name the file and field.

Every stage reads its parameters from here; the paper's values are the defaults. The sections are in
hni_engine.store.config_sections; this module reads, checks, lists and writes the whole file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, ValidationError, field_validator

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine import formats
from hni_engine.store.config_sections import (
    SEED_LIMIT,
    ComputeConfig,
    DataConfig,
    DistillConfig,
    ExtractConfig,
    GrnConfig,
    ModelConfig,
    Section,
    SegmentConfig,
    TrainConfig,
    config_key,
)

__all__ = [
    "SEED_LIMIT",
    "ComputeConfig",
    "ConfigError",
    "DataConfig",
    "DistillConfig",
    "ExtractConfig",
    "GrnConfig",
    "HniConfig",
    "ModelConfig",
    "SegmentConfig",
    "Setting",
    "TrainConfig",
    "config_key",
    "dump_config",
    "effective_settings",
    "load_config",
    "settings",
    "write_config",
    "written",
]

CONFIG_FORMAT = formats.WORKSPACE


class ConfigError(HniError):
    def __init__(self, path: str, message: str, field: str | None = None):
        self.path, self.field = path, field
        super().__init__(f"{path}: " + (f"field {field!r}: " if field else "") + message)


class HniConfig(Section):
    format: Literal["hni-workspace/1"] = Field(
        default=cast(Literal["hni-workspace/1"], CONFIG_FORMAT),
        description="format of this file; only hni-workspace/1 is read",
    )
    seed: int = Field(
        default=0, ge=0, lt=SEED_LIMIT, description="seed of every random draw: sampling, k-means, training"
    )
    classes: tuple[str, ...] = Field(
        default=(), strict=False, description="classes of interest; empty: every training class"
    )
    model: ModelConfig = Field(default=ModelConfig(), description="the original network")
    data: DataConfig = Field(default=DataConfig(), description="the training and test images")
    train: TrainConfig = Field(default=TrainConfig(), description="`hni train`: training the network from scratch")
    extract: ExtractConfig = Field(
        default=ExtractConfig(), description="`hni extract`: segments, patch features, concepts, c-SCGs and their edges"
    )
    grn: GrnConfig = Field(
        default=GrnConfig(),
        description="the GRN, trained by `hni extract` to mimic the network and retrained by `hni apply`",
    )
    distill: DistillConfig = Field(default=DistillConfig(), description="`hni apply`: distillation into the network")
    compute: ComputeConfig = Field(default=ComputeConfig(), description="where the per-image work runs")

    @field_validator("classes")
    @classmethod
    def _distinct(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({name for name in classes if classes.count(name) > 1 or not name.strip()})
        if repeated:
            raise ValueError(f"class names must be distinct and not blank ({', '.join(map(repr, repeated))})")
        return classes


def _read_toml(path: str | Path) -> dict[str, Any]:
    """The file's TOML as a dict; a missing, unreadable or malformed file is a ConfigError naming it."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "no such file (make a workspace with `hni init`)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def _validate(path: str | Path, data: dict[str, Any]) -> HniConfig:
    try:
        return HniConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] != "missing" and not isinstance(first.get("input"), dict):
            message += f" (got {_shown(first.get('input'))})"
        raise ConfigError(str(path), message, field or None) from None


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_config(path: str | Path) -> HniConfig:
    return _validate(path, _read_toml(path))


# -- the effective configuration (`hni config`) -----------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One key of hni.toml as a run sees it: dotted key, value (JSON form), where it came from, meaning."""

    key: str
    value: Any
    source: Literal["default", "file"]
    description: str

    @property
    def text(self) -> str:
        """The value as hni.toml writes it (strings quoted, lists in brackets)."""
        return written(self.value)


def settings(config: HniConfig, given: Mapping[str, Any]) -> list[Setting]:
    """Every key of ``config`` (top-level keys first, then each section's, as `dump_config` orders them),
    marked `file` when the TOML table ``given`` sets it and `default` otherwise.

    >>> [(s.key, s.value, s.source) for s in settings(HniConfig(seed=3), {"seed": 3})][:2]
    [('format', 'hni-workspace/1', 'default'), ('seed', 3, 'file')]
    """
    out: list[Setting] = []

    def walk(prefix: str, model: BaseModel, given: Mapping[str, Any]) -> None:
        sections = []
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                sub = given.get(name)
                sections.append((prefix + name + ".", value, sub if isinstance(sub, Mapping) else {}))
                continue
            source: Literal["default", "file"] = "file" if name in given else "default"
            dumped = model.model_dump(mode="json", include={name})[name]
            out.append(Setting(prefix + name, dumped, source, info.description or ""))
        for sub_prefix, sub_model, sub_given in sections:
            walk(sub_prefix, sub_model, sub_given)

    walk("", config, given)
    return out


def effective_settings(path: str | Path) -> list[Setting]:
    """The configuration a run on the hni.toml at ``path`` uses, key by key, with each value's source.

    Raises ConfigError (naming the file) when it is missing, not TOML or has an invalid value."""
    data = _read_toml(path)
    return settings(_validate(path, data), data)


# -- writing ------------------------------------------------------------------------------------------


def written(value: Any) -> str:
    """A value as hni.toml writes it (strings quoted, lists in brackets); one of no TOML type as Python would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(written(v) for v in value) + "]"
    return _shown(value)


def dump_config(config: HniConfig) -> str:
    """TOML text of a config (top-level keys first, then one table per section), each key preceded by its
    description as a comment."""
    lines = [
        "# hni workspace. Each key's meaning is in the comment above it; `hni config` lists the keys in",
        "# effect and where each value came from. Paths are relative to this file.",
        "",
    ]
    table = ""
    for setting in settings(config, {}):
        section, _, key = setting.key.rpartition(".")
        if section != table:
            lines.extend(["", f"[{section}]"])
            table = section
        lines.extend([f"# {setting.description}", f"{key} = {setting.text}"])
    return "\n".join(lines) + "\n"


def write_config(config: HniConfig, path: str | Path) -> None:
    atomic_write_text(path, dump_config(config))
