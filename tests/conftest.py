"""Shared fixtures: the repository's paths, the example library and a tiny extracted workspace."""

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


# -- a tiny trained and extracted world (engine tests and fault tests) ------------------------------------


def tiny_config(grn_epochs: int = 3, **extract):
    """Small on purpose: three classes, a dozen images each, a few epochs of everything."""
    from hni_engine.store.config import DistillConfig, ExtractConfig, GrnConfig, HniConfig, TrainConfig

    return HniConfig(
        seed=0,
        train=TrainConfig(epochs=2, batch_size=16),
        extract=ExtractConfig(
            images_per_class=8, clusters=5, cluster_members=10, tcav_random_sets=3, min_cluster_images=0.3, **extract
        ),
        grn=GrnConfig(epochs=grn_epochs, batch_size=8),
        distill=DistillConfig(epochs=1, batch_size=16),
    )


@pytest.fixture(scope="session")
def make_tiny_config():
    """`tiny_config` for tests that build their own workspace."""
    return tiny_config


@pytest.fixture(scope="session")
def tiny_extracted(tmp_path_factory):
    """posebias, 12 train / 6 test images per class, trained and extracted. Read-only: copy it to change it."""
    from hni_engine.cli.app import main
    from hni_engine.data import synthetic
    from hni_engine.progress import set_quiet
    from hni_engine.store.config import write_config

    set_quiet(True)
    root = tmp_path_factory.mktemp("tiny_extracted")
    spec = synthetic.scenario("posebias", synthetic.WorldConfig(train_per_class=12, test_per_class=6, seed=0))
    synthetic.generate(spec, root / "data")
    write_config(tiny_config(), root / "hni.toml")
    (root / "edits").mkdir()
    assert main(["-w", str(root), "train", "--device", "cpu"]) == 0
    assert main(["-w", str(root), "extract", "--device", "cpu"]) == 0
    yield root
    set_quiet(False)
