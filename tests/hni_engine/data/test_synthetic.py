"""The synthetic world: determinism, the presets' ground truth, image sizes, atomic writes, validation."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from hni_engine.data import synthetic as syn

TINY = syn.WorldConfig(train_per_class=3, test_per_class=3, seed=7, clutter=2)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / syn.METADATA_NAME).read_text().splitlines()]


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """Each preset generated once, tiny, for the tests that only read."""
    root = tmp_path_factory.mktemp("worlds")
    for name in syn.SCENARIOS:
        syn.generate(syn.scenario(name, TINY), root / name)
    return {name: root / name for name in syn.SCENARIOS}


# --- vocabulary and presets -------------------------------------------------------------------------------


def test_vocabulary_is_a_product_of_shape_colour_texture():
    assert len(syn.VOCABULARY) >= 12
    assert len({p.name for p in syn.VOCABULARY}) == len(syn.VOCABULARY)
    assert len({p.shape for p in syn.VOCABULARY}) >= 6
    assert len({p.colour for p in syn.VOCABULARY}) >= 6
    assert {p.texture for p in syn.VOCABULARY} == set(syn.Texture)


@pytest.mark.parametrize("name", list(syn.SCENARIOS))
def test_every_preset_is_valid_and_uses_a_shared_vocabulary(name):
    spec = syn.scenario(name)
    doc = syn.manifest(spec)
    assert doc["scenario"] == name and doc["image_size"] == 64 and doc["seed"] == 0
    assert len(doc["vocabulary"]) >= 10
    for info in doc["classes"].values():
        assert 3 <= len(info["parts"]) <= 4
        assert set(info["parts"]) <= set(doc["vocabulary"])
        assert len(doc["layouts"][info["layout"]]) == len(info["parts"])
    # Parts are shared between classes: that is what makes concepts (and shortcuts) interesting.
    uses = Counter(p for info in doc["classes"].values() for p in info["parts"])
    assert any(n > 1 for n in uses.values())
    assert not set(doc["distractors"]) & set(uses)


def test_quick_config_is_small():
    quick = syn.WorldConfig.quick(seed=3)
    assert (quick.train_per_class, quick.test_per_class, quick.seed) == (30, 15, 3)


# --- determinism ------------------------------------------------------------------------------------------


def test_same_config_gives_identical_bytes(tmp_path):
    spec = syn.scenario("spurious", TINY)
    syn.generate(spec, tmp_path / "a")
    syn.generate(syn.scenario("spurious", TINY), tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b
    assert sum(name.endswith(".png") for name in a) == 12 * 6


def test_an_image_does_not_depend_on_generation_order(trees):
    spec = syn.scenario("zeroshot", TINY)
    for split, cls, index in [("test", "K", 2), ("train", "A", 0), ("test", "I", 0)]:
        image, _ = syn.render(spec, split, cls, index)
        on_disk = Image.open(trees["zeroshot"] / split / cls / f"{index:04d}.png")
        assert image.tobytes() == on_disk.tobytes()


def test_another_seed_gives_other_images():
    spec_a = syn.scenario("posebias", TINY)
    spec_b = syn.scenario("posebias", dataclasses.replace(TINY, seed=8))
    assert syn.render(spec_a, "train", "bus", 0)[0].tobytes() != syn.render(spec_b, "train", "bus", 0)[0].tobytes()


# --- the tree and its manifest ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(syn.SCENARIOS))
def test_tree_matches_manifest_and_metadata(trees, name):
    root = trees[name]
    doc = json.loads((root / syn.MANIFEST_NAME).read_text())
    records = _records(root)
    for split in ("train", "test"):
        folders = sorted(p.name for p in (root / split).iterdir())
        assert folders == sorted(doc["counts"][split])
        for cls, count in doc["counts"][split].items():
            files = sorted(p.name for p in (root / split / cls).iterdir())
            assert files == [f"{i:04d}.png" for i in range(count)]
    assert len(records) == sum(sum(c.values()) for c in doc["counts"].values())
    for record in records:
        assert (root / record["file"]).is_file()
        assert [p["part"] for p in record["parts"]] == doc["classes"][record["class"]]["parts"]
        for item in record["parts"] + record["clutter"] + ([record["context"]] if record["context"] else []):
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
    assert not [p for p in root.parent.iterdir() if p.name.startswith(f".{name}.")]


def test_images_have_the_configured_size(trees):
    with Image.open(trees["posebias"] / "train" / "bus" / "0000.png") as image:
        assert (image.size, image.mode) == ((64, 64), "RGB")
    big = syn.scenario("spurious", dataclasses.replace(TINY, image_size=224))
    for cls in ("fire_engine", "kite"):
        image, record = syn.render(big, "train", cls, 0)
        assert (image.size, image.mode) == ((224, 224), "RGB")
        assert all(0 <= v <= 224 for part in record["parts"] for v in part["box"])


def test_zeroshot_unseen_classes_are_test_only_compositions(trees):
    root = trees["zeroshot"]
    doc = json.loads((root / syn.MANIFEST_NAME).read_text())
    seen = list("ABCDEFGH")
    assert sorted(p.name for p in (root / "train").iterdir()) == seen
    assert sorted(p.name for p in (root / "test").iterdir()) == seen + ["I", "J", "K"]
    assert sorted(doc["compositions"]) == ["I", "J", "K"]
    i = doc["compositions"]["I"]
    assert i["script"] == "define class I from A.c1, E.c2, C.c3, edges like D"
    assert [(p["class"], p["index"]) for p in i["parts"]] == [("A", 1), ("E", 2), ("C", 3)]
    for name, comp in doc["compositions"].items():
        info = doc["classes"][name]
        assert not info["seen"] and info["splits"] == ["test"]
        assert info["parts"] == [doc["classes"][p["class"]]["parts"][p["index"] - 1] for p in comp["parts"]]
        assert info["layout"] == doc["classes"][comp["layout_from"]]["layout"]
        assert all(p["class"] in seen for p in comp["parts"])


def test_posebias_train_poses_are_fixed_and_test_has_all(trees):
    doc = json.loads((trees["posebias"] / syn.MANIFEST_NAME).read_text())
    assert len(doc["classes"]) == 3
    train = doc["poses"]["train"]
    assert all(len(angles) == 1 for angles in train.values())
    assert len({angles[0] for angles in train.values()}) == 3
    assert all(sorted(a) == sorted(doc["poses"]["angles"]) for a in doc["poses"]["test"].values())
    # The classes differ in one part only; pose is the easier cue.
    parts = [set(info["parts"]) for info in doc["classes"].values()]
    assert all(len(a & b) == 2 for a in parts for b in parts if a is not b)
    seen_poses: dict[tuple[str, str], set[int]] = {}
    for record in _records(trees["posebias"]):
        seen_poses.setdefault((record["split"], record["class"]), set()).add(record["pose"]["index"])
    for cls in doc["classes"]:
        assert len(seen_poses["train", cls]) == 1
        assert seen_poses["test", cls] == {0, 1, 2}


def test_spurious_context_is_in_nearly_all_biased_training_images_and_not_at_test():
    spec = syn.scenario("spurious")  # default size, counted without rendering
    doc = syn.manifest(spec)
    context = doc["context"]
    biased = set(context["objects"])
    assert len(doc["classes"]) >= 10 and 4 <= len(biased) <= 8
    assert not set(context["objects"].values()) & {p for c in doc["classes"].values() for p in c["parts"]}
    n_train, n_test = spec.config.train_per_class, spec.config.test_per_class
    for cls in biased:
        assert context["counts"]["train"][cls] == {cls: round(0.95 * n_train)}
        at_test = context["counts"]["test"][cls]
        assert cls not in at_test and 0 < sum(at_test.values()) <= n_test
        # Each biased class has a look-alike: same layout, all parts but one shared.
        info = doc["classes"][cls]
        assert any(
            other != cls
            and doc["classes"][other]["layout"] == info["layout"]
            and len(set(info["parts"]) & set(doc["classes"][other]["parts"])) == len(info["parts"]) - 1
            for other in doc["classes"]
        )


def test_spurious_metadata_records_the_context(trees):
    doc = json.loads((trees["spurious"] / syn.MANIFEST_NAME).read_text())
    biased = doc["context"]["objects"]
    for record in _records(trees["spurious"]):
        ctx, cls = record["context"], record["class"]
        if cls not in biased:
            assert ctx is None
        elif ctx is not None:
            assert ctx["object"] == biased[ctx["of_class"]]
            assert (ctx["of_class"] == cls) == (record["split"] == "train")


# --- writing ----------------------------------------------------------------------------------------------


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "world"
    syn.generate(syn.scenario("posebias", TINY), out)
    before = _tree(out)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        syn.generate(syn.scenario("posebias", TINY), out)
    assert _tree(out) == before
    other = syn.scenario("posebias", dataclasses.replace(TINY, seed=99))
    syn.generate(other, out, overwrite=True)
    assert json.loads((out / syn.MANIFEST_NAME).read_text())["seed"] == 99
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_the_tree_gets_ordinary_permissions(tmp_path):
    (tmp_path / "reference").mkdir()
    syn.generate(syn.scenario("posebias", TINY), tmp_path / "world")
    assert (tmp_path / "world").stat().st_mode == (tmp_path / "reference").stat().st_mode


def test_an_empty_output_directory_is_used(tmp_path):
    (tmp_path / "world").mkdir()
    syn.generate(syn.scenario("posebias", TINY), tmp_path / "world")
    assert (tmp_path / "world" / syn.MANIFEST_NAME).is_file()


def test_an_interrupted_run_leaves_nothing_or_the_old_tree(tmp_path):
    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    out = tmp_path / "world"
    with pytest.raises(KeyboardInterrupt):
        syn.generate(syn.scenario("posebias", TINY), out, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    syn.generate(syn.scenario("posebias", TINY), out)
    before = _tree(out)
    with pytest.raises(KeyboardInterrupt):
        syn.generate(syn.scenario("zeroshot", TINY), out, overwrite=True, progress=interrupt)
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_progress_counts_every_image(tmp_path):
    calls = []
    syn.generate(syn.scenario("posebias", TINY), tmp_path / "w", progress=lambda *args: calls.append(args))
    assert calls == [(i, 18) for i in range(1, 19)]


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_size", 8),
        ("image_size", "64"),
        ("train_per_class", 0),
        ("test_per_class", 2.5),
        ("seed", -1),
        ("clutter", 99),
        ("clutter", True),
    ],
)
def test_config_errors_show_the_bad_value(field, value):
    with pytest.raises(ValueError, match=rf"{field}.*\(got {value!r}\)"):
        syn.WorldConfig(**{field: value})


def test_scenario_errors_show_the_bad_value():
    with pytest.raises(ValueError, match=r"\(got 'nope'\)"):
        syn.scenario("nope")
    with pytest.raises(ValueError, match=r"colour.*\(got 'mauve'\)"):
        syn.Part("x", "disc", "mauve", "solid")
    with pytest.raises(ValueError, match=r"rate.*\(got 1.5\)"):
        syn.ContextRule({"a": "x", "b": "y"}, rate=1.5)
    spec = syn.spurious()
    with pytest.raises(ValueError, match=r"context object of class 'kite'.*\(got 'red_solid_bar'\)"):
        dataclasses.replace(spec, context=syn.ContextRule({"kite": "red_solid_bar", "lamp": "green_solid_star"}))
    bad = dataclasses.replace(spec.classes[0], parts=("red_solid_bar", "no_such_part", "x", "y"))
    with pytest.raises(ValueError, match=r"no_such_part"):
        dataclasses.replace(spec, classes=(bad, *spec.classes[1:]))
    with pytest.raises(ValueError, match=r"\(got 'robot'\)"):
        syn.render(syn.posebias(), "train", "robot", 0)


def test_a_composition_must_match_and_be_new():
    spec = syn.zeroshot()
    classes = spec.classes_by_name
    clone = dataclasses.replace(classes["A"], name="I", seen=False)
    comp = syn.Composition("I", (("A", 1), ("A", 2), ("A", 3)), "A")
    others = tuple(c for c in spec.classes if c.name != "I")
    with pytest.raises(ValueError, match="identical to seen class 'A'"):
        dataclasses.replace(spec, classes=(*others, clone), compositions=(comp, *spec.compositions[1:]))
    with pytest.raises(ValueError, match="does not match its composition"):
        dataclasses.replace(
            spec, compositions=(dataclasses.replace(spec.compositions[0], layout_from="B"), *spec.compositions[1:])
        )
