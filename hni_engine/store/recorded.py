"""What each stage ran with: the configuration `hni train` and `hni extract` record beside their output,
and which of its keys a later command may not change (an error) or may change with a warning.

Torch-free: `hni config` shows the differences too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from hni_engine.store.config import HniConfig, settings, written

__all__ = ["STAGE_KEYS", "Mismatch", "config_mismatches", "config_record", "read_recorded"]

Severity = Literal["error", "warning"]

# For each stage whose output a later command reads: the keys (or key prefixes) that output depends on,
# and whether running on with another value is an error (the output would be read wrongly) or a warning
# (it is read rightly, but what the command makes no longer follows from the configuration it shows).
STAGE_KEYS: dict[str, tuple[tuple[str, Severity], ...]] = {
    # model/base.json: the network reads its input as it was trained to.
    "train": (
        ("model.input_size", "error"),
        ("model.mean", "error"),
        ("model.std", "error"),
        ("data.train", "warning"),
    ),
    # concepts/extract.json: the concepts' anchors and thresholds are patch features computed this way.
    "extract": (
        ("model.input_size", "error"),
        ("model.mean", "error"),
        ("model.std", "error"),
        ("model.feature_layer", "error"),
        ("model.gradcam_layer", "error"),
        ("extract.feature_mode", "error"),
        ("extract.concept_region", "error"),
        ("extract.gradcam_keep", "error"),
        ("extract.context_features", "error"),
        ("extract.segment.", "error"),
        ("seed", "warning"),
        ("classes", "warning"),
        ("data.train", "warning"),
    ),
}


@dataclass(frozen=True)
class Mismatch:
    """A key whose value now differs from the one a stage recorded."""

    key: str
    now: Any
    then: Any
    severity: Severity

    def __str__(self) -> str:
        return f"{self.key} is {written(self.now)} here but was {written(self.then)}"


def config_record(config: HniConfig) -> dict[str, Any]:
    """Every key of ``config`` and its value (JSON form), as a stage records the configuration it ran with.

    >>> config_record(HniConfig(seed=3))["seed"], config_record(HniConfig())["extract.segment.n_segments"]
    (3, [15, 50, 80])
    """
    return {s.key: s.value for s in settings(config, {})}


def read_recorded(path: str | Path, network: str | Path | None = None) -> dict[str, Any] | None:
    """The configuration a stage recorded in its JSON report at ``path`` (its `config`), or None when there
    is none or it is unreadable; with ``network``, only while the report's `model_sha256` is that file's
    (a network put there by other means is not the one the report describes)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        return None
    if network is not None:
        digest = hashlib.sha256()
        try:
            with open(network, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            return None
        if record.get("model_sha256") != digest.hexdigest():
            return None
    return cast(dict[str, Any], record["config"])


def config_mismatches(recorded: Mapping[str, Any], config: HniConfig, stage: str) -> list[Mismatch]:
    """The keys that matter to ``stage``'s output (STAGE_KEYS) whose value in ``config`` differs from the
    ``recorded`` one (`config_record` of the configuration the stage ran with); keys it lacks are skipped.

    >>> [str(m) for m in config_mismatches(config_record(HniConfig()), HniConfig(seed=1), "extract")]
    ['seed is 1 here but was 0']
    """
    rules = STAGE_KEYS[stage]
    out = []
    for key, now in config_record(config).items():
        severity = next(
            (sev for rule, sev in rules if key == rule or (rule.endswith(".") and key.startswith(rule))), None
        )
        if severity is None or key not in recorded or recorded[key] == now:
            continue
        out.append(Mismatch(key, now, recorded[key], severity))
    return out
