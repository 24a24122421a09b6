"""What produced a file: the package's version and the library versions a run records beside its hashes."""

from __future__ import annotations

import platform

__all__ = ["package_version", "versions"]


def package_version() -> str:
    """hni's installed version; "0+unknown" when running from a source tree that was never installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("hni")
    except PackageNotFoundError:
        return "0+unknown"


def versions() -> dict[str, str]:
    """hni, torch and Python versions, for a run's provenance (imports torch: engine callers only)."""
    import torch

    return {"hni": package_version(), "torch": torch.__version__, "python": platform.python_version()}
