"""Shared fixtures: the repository's paths and the example library."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_LIBRARY = EXAMPLES / "library.json"


@pytest.fixture(scope="session")
def example_library():
    from hni_dsl import load_library

    return load_library(EXAMPLE_LIBRARY)


# Hypothesis: a fast default profile for `make test`, a long one for fuzzing (HYPOTHESIS_PROFILE=fuzz).
try:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("default", max_examples=150, deadline=None, derandomize=True)
    settings.register_profile("fuzz", max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is a dev dependency; the property tests import it themselves
    pass


@pytest.fixture(scope="session")
def example_library_for_properties(example_library):
    """The example library, for property tests (hypothesis forbids function-scoped fixtures)."""
    return example_library


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Engine tests use tiny tensors: one thread is as fast, and immune to a busy machine's other load."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
