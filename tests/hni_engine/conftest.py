"""A tiny trained and extracted world, built once per test session and copied by the tests that use it."""

from __future__ import annotations

import pytest

from hni_engine.cli.app import main
from hni_engine.data import synthetic
from hni_engine.progress import set_quiet
from hni_engine.store.config import DistillConfig, ExtractConfig, GrnConfig, HniConfig, TrainConfig, write_config


def tiny_config(grn_epochs: int = 3, **extract) -> HniConfig:
    """Small on purpose: three classes, a dozen images each, a few epochs of everything."""
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
