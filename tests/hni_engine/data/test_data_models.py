"""Data and checkpoints: every bad input gives a clear error naming the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hni_engine.data.images import DataError, load_image_folder, scan_image_folder, to_tensor
from hni_engine.network.models import ModelError, build_model, load_checkpoint, save_checkpoint


def _folder(root, classes=("a", "b"), per_class=2, size=8):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((size, size, 3), 40 * c + i, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_scan_and_load(tmp_path):
    root = _folder(tmp_path / "train")
    data = load_image_folder(root, 16)
    assert data.classes == ["a", "b"] and data.images.shape == (4, 16, 16, 3)
    assert data.labels.tolist() == [0, 0, 1, 1] and len(set(data.digests)) == 4
    x = to_tensor(data.images, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (4, 3, 16, 16)


def test_missing_empty_and_bad_folders(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        scan_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        scan_image_folder(tmp_path / "empty")
    (tmp_path / "hollow" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="class 'cat' has no images"):
        scan_image_folder(tmp_path / "hollow")


def test_unreadable_image_names_the_file(tmp_path):
    root = _folder(tmp_path / "train")
    (root / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: not a readable image"):
        load_image_folder(root, 8)


def test_class_mismatch_between_data_and_model(tmp_path):
    root = _folder(tmp_path / "train")
    with pytest.raises(DataError, match="missing in the data: 'c'"):
        load_image_folder(root, 8, classes=["a", "b", "c"])
    test_root = _folder(tmp_path / "test", classes=("a", "b", "zeroshot"))
    subset = load_image_folder(test_root, 8, classes=["a", "b"], extra_ok=True)
    assert subset.classes == ["a", "b"] and len(subset) == 4


def test_checkpoint_round_trip_and_plain_torchvision_loading(tmp_path):
    model = build_model("resnet18", 3)
    path = tmp_path / "m.pt"
    save_checkpoint(model, "resnet18", ["x", "y", "z"], path)
    loaded = load_checkpoint(path, "resnet18", ["x", "y", "z"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values()))
    raw = torch.load(path, weights_only=True)  # no hni import needed to use it
    import torchvision

    plain = torchvision.models.get_model(raw["arch"], weights=None, num_classes=len(raw["classes"]))
    plain.load_state_dict(raw["state_dict"])


def test_bare_state_dict_and_whole_model(tmp_path):
    model = build_model("resnet18", 2)
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    assert load_checkpoint(tmp_path / "sd.pt", "resnet18", ["a", "b"]).arch == "resnet18"
    torch.save(model, tmp_path / "whole.pt")
    assert load_checkpoint(tmp_path / "whole.pt", "resnet18", ["a", "b"]).model is not None


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing", "no such checkpoint"),
        ("garbage", "not a readable checkpoint"),
        ("classes", "classes are not the data's 2 .only in the data: 'a', 'b'; only in the checkpoint: 'p', 'q'"),
        ("outputs", "output layer fc has 3 outputs, but the data has 2 classes"),
        ("shapes", "output layer fc has 3 outputs, but the data has 2 classes"),
        ("arch", "unknown torchvision classification architecture 'resnet19'; did you mean"),
    ],
)
def test_bad_checkpoints(tmp_path, case, fragment):
    path = tmp_path / "m.pt"
    arch = "resnet18"
    if case == "garbage":
        path.write_bytes(b"\x00\x01garbage")
    elif case == "classes":
        save_checkpoint(build_model("resnet18", 2), "resnet18", ["p", "q"], path)
    elif case == "outputs":
        torch.save(build_model("resnet18", 3), path)
    elif case == "shapes":
        torch.save(build_model("resnet18", 3).state_dict(), path)
    elif case == "arch":
        torch.save(build_model("resnet18", 2).state_dict(), path)
        arch = "resnet19"
    with pytest.raises(ModelError, match=fragment):
        load_checkpoint(path, arch, ["a", "b"])


def test_turned_copies_are_seeded_rotations_without_blank_corners():
    from hni_engine.data.images import ImageSet, image_digest, turned_copies

    rng = np.random.default_rng(0)
    images = np.stack([np.full((16, 16, 3), 200, np.uint8), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)])
    images[1, 4:8, 4:12] = 0  # an asymmetric bar, so a turn changes the picture
    data = ImageSet(
        ["a", "b"], images, np.array([0, 1]), ["x/a.png", "x/b.png"], "x", [image_digest(i) for i in images]
    )
    turned, source = turned_copies(data, 3, seed=5)
    assert len(turned) == 6 and source.tolist() == [0, 0, 0, 1, 1, 1]
    assert turned.labels.tolist() == [0, 0, 0, 1, 1, 1] and turned.paths[4] == "x/b.png#turn1"
    assert turned.images.dtype == np.uint8 and turned.images.shape == (6, 16, 16, 3)
    # a flat image stays flat: the uncovered border is reflected image, not black
    assert (turned.images[:3] == 200).all()
    assert all(not np.array_equal(turned.images[k], images[1]) for k in range(3, 6))
    assert turned.digests == [image_digest(i) for i in turned.images]
    again, _ = turned_copies(data, 3, seed=5)
    other, _ = turned_copies(data, 3, seed=6)
    assert np.array_equal(again.images, turned.images) and not np.array_equal(other.images, turned.images)
