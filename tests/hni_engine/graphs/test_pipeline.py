"""The NN -> human path end to end on a tiny synthetic world: init, train, extract, show, explain, check.

Small on purpose (three classes, a dozen images each, a few epochs): it proves the stages fit together,
that bad input is refused clearly, and that the cache is keyed right. Quality is measured in benchmarks/.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from hni_dsl.errors import HniError
from hni_engine.cli.app import main
from hni_engine.data import synthetic
from hni_engine.progress import set_quiet
from hni_engine.store.config import ConfigError, GrnConfig, HniConfig, load_config, write_config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, make_tiny_config):
    set_quiet(True)
    root = tmp_path_factory.mktemp("ws")
    spec = synthetic.scenario("posebias", synthetic.WorldConfig(train_per_class=12, test_per_class=6, seed=0))
    synthetic.generate(spec, root / "data")
    write_config(make_tiny_config(grn_epochs=4), root / "hni.toml")
    assert main(["-w", str(root), "train", "--device", "cpu"]) == 0
    assert main(["-w", str(root), "extract", "--device", "cpu"]) == 0
    yield root
    set_quiet(False)


def test_extract_writes_a_library_the_language_accepts(workspace, capsys):
    library = json.loads((workspace / "concepts" / "library.json").read_text())
    assert library["format"] == "hni-library/1" and len(library["classes"]) == 3
    for entry in library["classes"]:
        assert 1 <= len(entry["graph"]["nodes"]) <= 4
        assert entry["graph"]["nodes"] == [c["id"] for c in entry["pool"][: len(entry["graph"]["nodes"])]]
        for concept in entry["pool"]:
            for exemplar in concept["exemplars"]:
                assert (workspace / "concepts" / exemplar).is_file()
    empty = workspace / "edits" / "000_empty.hni"
    empty.parent.mkdir(exist_ok=True)
    empty.write_text("# nothing yet\n")
    assert main(["-w", str(workspace), "check", str(empty)]) == 0
    name = library["classes"][0]["name"]
    edit = workspace / "edit.hni"
    edit.write_text(
        f"class {name}: drop edges *\n"
        if library["classes"][0]["graph"]["edges"]
        else f"class {name}: replace concept 1 with pool[1]\n"
    )
    assert main(["-w", str(workspace), "plan", str(edit)]) in (0, 2)
    report = json.loads((workspace / "concepts" / "extract.json").read_text())
    assert 0.0 <= report["fidelity_test"] <= 1.0


def test_show_numbers_match_the_library(workspace, capsys):
    library = json.loads((workspace / "concepts" / "library.json").read_text())
    entry = library["classes"][0]
    capsys.readouterr()
    assert main(["-w", str(workspace), "show", entry["name"]]) == 0
    out = capsys.readouterr().out
    for slot, concept in enumerate(entry["graph"]["nodes"], start=1):
        assert f"concept {slot}  {concept}" in out
    assert main(["-w", str(workspace), "show", entry["name"], "--pool"]) == 0
    out = capsys.readouterr().out
    for rank, concept in enumerate(entry["pool"], start=1):
        assert f"pool[{rank}]" in out and concept["id"] in out


def test_eval_prints_accuracy_and_confusion(workspace, capsys):
    capsys.readouterr()
    assert main(["-w", str(workspace), "eval", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "mean" in out and "confusion (rows: true, columns: predicted)" in out


def test_explain_an_image(workspace, capsys):
    image = next((workspace / "data" / "test").rglob("*.png"))
    other = sorted(p.name for p in (workspace / "data" / "test").iterdir())[-1]
    capsys.readouterr()
    assert main(["-w", str(workspace), "explain", str(image), "--why-not", other, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "network predicts" in out and f"why not {other}" in out and "concept 1" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["show", "no_such_class"], "unknown class 'no_such_class'"),
        (["explain", "{root}/hni.toml"], "not a readable image"),
        (["explain", "{root}/missing.png"], "no such image file"),
    ],
)
def test_bad_input_is_refused_clearly(workspace, capsys, argv, fragment):
    capsys.readouterr()
    status = main(["-w", str(workspace)] + [a.format(root=workspace) for a in argv])
    assert status != 0
    assert fragment in capsys.readouterr().err


def test_wrong_layer_name_is_a_config_error(workspace, tmp_path, capsys, make_tiny_config):
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(".hni", "concepts"))
    config = make_tiny_config(grn_epochs=4).model_copy(
        update={"model": HniConfig().model.model_copy(update={"feature_layer": "layer5"})}
    )
    write_config(config, copy / "hni.toml")
    capsys.readouterr()
    assert main(["-w", str(copy), "extract", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "model.feature_layer" in err and "did you mean 'layer4'" in err
    assert not (copy / "concepts").exists()  # a failed run leaves nothing behind


def test_cache_keys_follow_exactly_their_inputs(workspace, make_tiny_config):
    from hni_engine.discovery.analysis import Analyser
    from hni_engine.network.models import load_checkpoint
    from hni_engine.store.cache import Cache
    from hni_engine.store.workspace import Workspace

    ws = Workspace(workspace)
    loaded = load_checkpoint(ws.model_path, "resnet18", ws.data_classes())

    def keys(config):
        a = Analyser(loaded, config, [0, 1, 2], Cache(ws.cache_dir), "cpu")
        return a.seg_key, a.feat_key, a.cam_key

    base = keys(make_tiny_config(grn_epochs=4))
    grn_changed = keys(make_tiny_config(grn_epochs=4).model_copy(update={"grn": GrnConfig(epochs=9)}))
    assert grn_changed == base  # nothing per-image depends on the GRN
    cam_changed = keys(make_tiny_config(grn_epochs=4, gradcam_keep=0.3))
    assert cam_changed[:2] == base[:2] and cam_changed[2] != base[2]
    mode_changed = keys(make_tiny_config(grn_epochs=4, feature_mode="crop", context_features=False))
    assert mode_changed[0] == base[0] and mode_changed[1] != base[1] and mode_changed[2] == base[2]
    # Crop mode's context features ride in the Grad-CAM entry; in pool mode the switch changes nothing.
    with_context = keys(make_tiny_config(grn_epochs=4, feature_mode="crop"))
    assert with_context[:2] == mode_changed[:2] and with_context[2] != base[2]
    assert keys(make_tiny_config(grn_epochs=4, context_features=False)) == base
    from hni_engine.store.config import SegmentConfig

    seg_changed = keys(make_tiny_config(grn_epochs=4, segment=SegmentConfig(compactness=10.0)))
    assert all(s != b for s, b in zip(seg_changed, base))


def test_corrupt_cache_entry_is_recomputed(workspace, capsys):
    entries = sorted((workspace / ".hni" / "cache" / "features").rglob("*.pt"))
    assert entries
    entries[0].write_bytes(b"corrupt")
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["-w", str(workspace), "extract", "--device", "cpu"]) == 0
    assert any("unreadable" in str(w.message) for w in caught)
    assert entries[0].read_bytes() != b"corrupt"


def test_config_error_names_the_file(tmp_path, capsys):
    (tmp_path / "hni.toml").write_text("[extract]\nclusters = 'many'\n")
    assert main(["-w", str(tmp_path), "extract", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "hni.toml: field 'extract.clusters'" in err
    with pytest.raises(ConfigError):
        from hni_engine.store.config import load_config

        load_config(tmp_path / "hni.toml")


def test_init_refuses_bad_targets_and_inputs(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["init", str(tmp_path / "full"), "--scenario", "posebias"]) == 1
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert main(["init", str(tmp_path / "own"), "--data", str(tmp_path / "nodata"), "--model", "m.pt"]) == 1
    assert "expected ImageFolder splits" in capsys.readouterr().err
    assert not (tmp_path / "own").exists()


def test_init_with_own_data_checks_the_checkpoint(workspace, tmp_path, capsys):
    model = workspace / "model" / "base.pt"
    assert (
        main(
            [
                "init",
                str(tmp_path / "mine"),
                "--data",
                str(workspace / "data"),
                "--model",
                str(model),
                "--input-size",
                "64",
            ]
        )
        == 0
    )
    assert (tmp_path / "mine" / "hni.toml").is_file()
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"nope")
    assert main(["init", str(tmp_path / "mine2"), "--data", str(workspace / "data"), "--model", str(wrong)]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_training_is_deterministic(workspace, tmp_path):
    import torch

    copy = tmp_path / "again"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(".hni", "concepts", "model"))
    assert main(["-w", str(copy), "train", "--device", "cpu"]) == 0
    first = torch.load(workspace / "model" / "base.pt", weights_only=True)["state_dict"]
    second = torch.load(copy / "model" / "base.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_crop_context_features_are_the_pool_features_of_the_same_segments(workspace, tmp_path, make_tiny_config):
    """In crop mode each node also carries its segment's pooled feature-layer map (from the Grad-CAM pass):
    exactly what pool mode computes for that segment, appended after the crop feature."""
    from hni_engine.discovery.analysis import Analyser
    from hni_engine.network.models import load_checkpoint
    from hni_engine.store.cache import Cache
    from hni_engine.store.workspace import Workspace

    ws = Workspace(workspace)
    classes = ws.data_classes()
    loaded = load_checkpoint(ws.model_path, "resnet18", classes)
    train = ws.load_split("train", classes)
    images, digests = train.images[:3], train.digests[:3]
    cache = Cache(tmp_path / "cache", enabled=False)
    crop = Analyser(loaded, make_tiny_config(feature_mode="crop"), [0, 1, 2], cache, "cpu").analyse(images, digests)
    pool = Analyser(loaded, make_tiny_config(), [0, 1, 2], cache, "cpu").analyse(images, digests)
    plain = Analyser(
        loaded, make_tiny_config(feature_mode="crop", context_features=False), [0, 1, 2], cache, "cpu"
    ).analyse(images, digests)
    for c, p, q in zip(crop, pool, plain):
        assert c.context is not None and q.context is None and p.context is None
        assert np.allclose(c.context, p.features, atol=2e-3 * np.abs(p.features).max())  # cached as float16
        assert np.array_equal(c.features, q.features)
        patches = c.patches()
        assert patches.features.shape == (len(c.features), 2 * c.features.shape[1])
        assert np.array_equal(patches.features[:, : c.features.shape[1]], c.features)


def test_crop_mode_extracts_applies_and_explains_with_context_features(workspace, tmp_path, capsys):
    ws = tmp_path / "crop"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("concepts", "runs"))
    toml = (ws / "hni.toml").read_text()
    (ws / "hni.toml").write_text(toml.replace('feature_mode = "pool"', 'feature_mode = "crop"'))
    assert 'feature_mode = "crop"' in (ws / "hni.toml").read_text()
    assert main(["-w", str(ws), "extract", "--device", "cpu"]) == 0
    import torch

    grn = torch.load(ws / "concepts" / "grn.pt", weights_only=True)["state"]
    anchors = torch.load(ws / "concepts" / "anchors.pt", weights_only=True)["anchors"]
    assert grn["in_dim"] == 2 * anchors.shape[1]  # crop feature, then its context
    library = json.loads((ws / "concepts" / "library.json").read_text())
    entry = next(e for e in library["classes"] if e["graph"]["edges"])
    (ws / "edits").mkdir(exist_ok=True)
    (ws / "edits" / "001.hni").write_text(f"class {entry['name']}: drop edges *\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    # The GRN retrained on the edited graphs sees the concepts alone, without their context.
    assert torch.load(run / "grn.pt", weights_only=True)["state"]["in_dim"] == anchors.shape[1]
    image = next(sorted((ws / "data" / "test").rglob("*.png")).__iter__())
    capsys.readouterr()
    assert main(["-w", str(ws), "explain", str(image), "--why-not", entry["name"]]) == 0
    assert f"why not {entry['name']}" in capsys.readouterr().out
    # Switching context features off after extraction: explain names the mismatch instead of failing deep.
    (ws / "hni.toml").write_text(
        (ws / "hni.toml").read_text().replace("context_features = true", "context_features = false")
    )
    assert main(["-w", str(ws), "explain", str(image), "--base"]) == 1
    err = capsys.readouterr().err
    assert "extract.context_features is false here but was true" in err and "run `hni extract` again" in err


def test_rotated_copies_join_the_mimic_data_but_not_concept_discovery(workspace, tmp_path):
    import torch

    ws = tmp_path / "turns"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("concepts", "runs"))
    toml = (ws / "hni.toml").read_text()
    assert "mimic_turns = 0" in toml
    (ws / "hni.toml").write_text(toml.replace("mimic_turns = 0", "mimic_turns = 2"))
    assert main(["-w", str(ws), "extract", "--device", "cpu"]) == 0
    report = json.loads((ws / "concepts" / "extract.json").read_text())
    assert report["images"] == {"train": 36, "rotated_copies": 72}
    before = torch.load(workspace / "concepts" / "anchors.pt", weights_only=True)
    after = torch.load(ws / "concepts" / "anchors.pt", weights_only=True)
    assert before["ids"] == after["ids"] and torch.equal(before["anchors"], after["anchors"])


def test_whole_image_region_makes_every_segment_a_candidate_of_every_class(workspace, tmp_path, make_tiny_config):
    """`extract.concept_region = "image"` (ACE): discovery and matching see every segment of an image, not
    only those in the class's Grad-CAM region. The cached features and Grad-CAM overlap are the same entries."""
    from hni_engine.discovery.analysis import Analyser
    from hni_engine.network.models import load_checkpoint
    from hni_engine.store.cache import Cache
    from hni_engine.store.workspace import Workspace

    ws = Workspace(workspace)
    classes = ws.data_classes()
    loaded = load_checkpoint(ws.model_path, "resnet18", classes)
    train = ws.load_split("train", classes)
    images, digests = train.images[:4], train.digests[:4]
    cache = Cache(tmp_path / "cache")
    gradcam = Analyser(loaded, make_tiny_config(), [0, 1, 2], cache, "cpu").analyse(images, digests)
    computed = cache.misses
    whole = Analyser(loaded, make_tiny_config(concept_region="image"), [0, 1, 2], cache, "cpu").analyse(images, digests)
    assert cache.misses == computed  # nothing recomputed: the region is applied to what the cache holds
    assert any((g.patches().candidates == 0).any() for g in gradcam)  # Grad-CAM leaves segments out
    for g, w in zip(gradcam, whole):
        assert np.array_equal(w.features, g.features)
        assert w.inside.shape == g.inside.shape and (w.inside == 1).all()
        assert w.patches().candidates.all()


def test_posebias_workspace_looks_for_concepts_in_the_whole_image(tmp_path):
    from hni_engine.cli.init_workspace import scenario_config

    assert scenario_config("posebias", 0, 64).extract.concept_region == "image"
    for name in ("spurious", "zeroshot"):
        assert scenario_config(name, 0, 64).extract.concept_region == "gradcam"
    toml = tmp_path / "hni.toml"
    write_config(scenario_config("posebias", 0, 64), toml)
    assert 'concept_region = "image"' in toml.read_text()
    bad = toml.read_text().replace('concept_region = "image"', 'concept_region = "everywhere"')
    toml.write_text(bad)
    with pytest.raises(ConfigError, match="concept_region"):
        load_config(toml)


def test_released_analyses_read_the_same_features_back_from_the_cache(workspace, tmp_path, make_tiny_config):
    """Extraction lets go of each image's patch features once analysed and reads them back from the cache
    when a stage needs them: the same numbers (context features too), without holding the split's."""
    from hni_engine.discovery import analysis
    from hni_engine.discovery.analysis import Analyser, analyse_all
    from hni_engine.network.models import load_checkpoint
    from hni_engine.store.cache import Cache
    from hni_engine.store.workspace import Workspace

    ws = Workspace(workspace)
    classes = ws.data_classes()
    loaded = load_checkpoint(ws.model_path, "resnet18", classes)
    train = ws.load_split("train", classes).subset(np.arange(6))
    config = make_tiny_config(feature_mode="crop")
    analyser = Analyser(loaded, config, [0, 1, 2], Cache(tmp_path / "cache"), "cpu")
    held = analyse_all(analyser, train, "held")
    released = analyse_all(analyser, train, "released", hold=False)
    assert all(a._features is None for a in released)  # nothing held ...
    for h, r in zip(held, released):  # ... and the same numbers read back
        assert np.array_equal(h.features, r.features) and np.array_equal(h.context, r.context)
        assert np.array_equal(h.patches().features, r.patches().features)
    assert len(analyser._recent) <= analysis.RECENT_ANALYSES
    off = Analyser(loaded, config, [0, 1, 2], Cache(tmp_path / "off", enabled=False), "cpu")
    kept = analyse_all(off, train, "no cache", hold=False)
    assert all(a._features is not None for a in kept)  # a cache that is off cannot give them back
    for entry in (tmp_path / "cache" / "features").rglob("*.pt"):
        entry.unlink()
    analyser._recent.clear()
    with pytest.raises(HniError, match="went missing"):
        _ = released[0].features
