"""The compute backend's plumbing without Ray: choosing it, its errors, and the sharded per-image pass run
in this process (the same shards and tasks a Ray run sends)."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from hni_engine.compute.backend import Backend, BackendError, resolve_backend
from hni_engine.compute.shards import run_shards
from hni_engine.store.config import ComputeConfig, ConfigError, load_config


def test_local_is_the_default_and_the_flag_wins():
    assert resolve_backend(None, ComputeConfig()).name == "local"
    assert resolve_backend("local", ComputeConfig(backend="ray")).name == "local"


def test_ray_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(BackendError, match=r"hni\[scale\]"):
        resolve_backend("ray", ComputeConfig())
    with pytest.raises(BackendError, match=r"hni\[scale\]"):
        resolve_backend(None, ComputeConfig(backend="ray"))


def test_an_unknown_backend_in_the_config_names_the_file_and_field(tmp_path):
    path = tmp_path / "hni.toml"
    path.write_text('[compute]\nbackend = "spark"\n')
    with pytest.raises(ConfigError, match=r"hni\.toml: field 'compute\.backend'"):
        load_config(path)


def test_shards_run_in_order_here_and_report_progress():
    out = run_shards(Backend("local"), lambda a, b: a * b, [(1, 2), (3, 4), (5, 6)], [1, 1, 1], "multiplying")
    assert out == [2, 12, 30]
    assert run_shards(Backend("local"), lambda: 1, [], [], "nothing") == []


def test_sharded_analysis_fills_the_cache_as_the_local_pass_does(tiny_extracted, tmp_path):
    """Shards of 5 images, analysed by the task a Ray worker runs, give the analyses a local pass gives."""
    from hni_engine.discovery.analysis import analyse_all
    from hni_engine.discovery.analysis_shards import sharded_prefetch, uncached

    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root)
    analyser, train, _ = _analyser_at(root)
    reference = analyse_all(analyser, train, "analysing")
    shutil.rmtree(analyser.cache.root)

    analyser, train, recipe = _analyser_at(root)
    assert len(uncached(analyser, train.digests)) == len(train)
    analyser.prefetch = sharded_prefetch(Backend("local", shard_images=5), recipe, analyser)
    sharded = analyse_all(analyser, train, "analysing")
    assert len(uncached(analyser, train.digests)) == 0
    assert analyser.cache.misses == 0  # the driver computed nothing itself: every analysis came from a shard
    for a, b in zip(sharded, reference):
        np.testing.assert_allclose(a.features, b.features, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(a.inside, b.inside)
        np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-4)


def _analyser_at(root):
    """The workspace's analyser (on its cache), its training split and the recipe a task rebuilds it from."""
    from hni_engine.discovery.analysis import Analyser
    from hni_engine.discovery.analysis_shards import AnalyserRecipe
    from hni_engine.network.models import load_checkpoint
    from hni_engine.store.cache import Cache
    from hni_engine.store.workspace import Workspace

    ws = Workspace(root)
    classes = ws.data_classes()
    coi = [classes.index(n) for n in ws.classes_of_interest(classes)]
    loaded = load_checkpoint(ws.model_path, ws.config.model.arch, classes)
    analyser = Analyser(loaded, ws.config, coi, Cache(ws.cache_dir), "cpu", str(ws.config_path))
    return analyser, ws.load_split("train", classes), AnalyserRecipe(str(root), tuple(classes), tuple(coi), "cpu")


def test_extract_with_ray_missing_fails_cleanly_and_changes_nothing(tiny_extracted, tmp_path, monkeypatch, capsys):
    from hni_engine.cli.app import main

    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root)
    before = (root / "concepts" / "library.json").read_bytes()
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["-w", str(root), "extract", "--device", "cpu", "--backend", "ray"]) != 0
    assert "hni[scale]" in capsys.readouterr().err
    assert (root / "concepts" / "library.json").read_bytes() == before


def test_a_class_measured_by_its_task_gets_the_evidence_measured_here(tiny_extracted):
    """The deletion task sees the class's images as 0..n-1: the same drops, intervals and p-values."""
    from hni_engine.discovery.deletion import LogitReader, measure_deletion
    from hni_engine.discovery.importance import fill_colour, measure_class
    from hni_engine.store.workspace import Workspace

    ws = Workspace(tiny_extracted)
    analyser, train, recipe = _analyser_at(tiny_extracted)
    coi, loaded = list(recipe.coi), analyser.loaded
    images = [3, 7, 8, 20]
    # two made-up concepts: the first segments of some images, the last segments of others
    counts = {i: len(analyser.masks(train.images[i], train.digests[i])) for i in images}
    patches = [{3: [0, 1], 8: [2]}, {7: [counts[7] - 1], 8: [0], 20: [1, 2]}]
    base = [float(v) for v in loaded.model(_tensor(train.images[images], ws))[:, coi[0]].detach()]
    fill = fill_colour(ws.config.model.mean)
    m = ws.config.model
    read = LogitReader(loaded.model, m.mean, m.std, "cpu", 64)
    here, here_summary = measure_deletion(
        images,
        patches,
        lambda i: train.images[i],
        lambda i: analyser.masks(train.images[i], train.digests[i]),
        base,
        read,
        coi[0],
        fill,
        ws.config.seed,
    )
    at = {i: k for k, i in enumerate(images)}
    local = [{at[i]: s for i, s in found.items()} for found in patches]
    picked = np.asarray(images)
    there, there_summary = measure_class(
        recipe, train.images[picked], [train.digests[i] for i in images], local, base, coi[0], fill, ws.config.seed
    )
    for a, b in zip(here, there):
        assert a.images == b.images and a.p_raw == pytest.approx(b.p_raw)
        assert a.logit_drop == pytest.approx(b.logit_drop, abs=1e-4)
        assert a.interval == pytest.approx(b.interval, abs=1e-4)
    assert here_summary.forward_passes == there_summary.forward_passes


def _tensor(pixels, ws):
    from hni_engine.data.images import to_tensor

    return to_tensor(np.asarray(pixels), ws.config.model.mean, ws.config.model.std)


def test_a_killed_sharded_pass_resumes_with_only_the_images_it_had_not_finished(tiny_extracted, tmp_path, monkeypatch):
    """Images whose shards finished are in the cache; the next run sends only the others."""
    from hni_engine.discovery.analysis_shards import sharded_prefetch, uncached

    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root)
    shutil.rmtree(root / ".hni" / "cache")
    analyser, train, recipe = _analyser_at(root)
    sent: list[int] = []

    class Killed(Exception):
        pass

    def dies_after_two_shards(backend, task, shards, sizes, desc, unit="img"):
        for shard in shards[:2]:
            task(*shard)
            sent.append(len(shard[2]))
        raise Killed

    from hni_engine.discovery import analysis_shards

    original = analysis_shards.run_shards
    monkeypatch.setattr(analysis_shards, "run_shards", dies_after_two_shards)
    with pytest.raises(Killed):
        sharded_prefetch(Backend("local", shard_images=5), recipe, analyser)(train, "analysing")
    assert sent == [5, 5] and len(uncached(analyser, train.digests)) == len(train) - 10

    counted = []

    def counts(backend, task, shards, sizes, desc, unit="img"):
        counted.extend(sizes)
        return original(backend, task, shards, sizes, desc, unit)

    monkeypatch.setattr(analysis_shards, "run_shards", counts)
    sharded_prefetch(Backend("local", shard_images=5), recipe, analyser)(train, "analysing")
    assert sum(counted) == len(train) - 10 and len(uncached(analyser, train.digests)) == 0
