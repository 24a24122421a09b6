"""Images decoded on access read exactly like the array they replace, and a loaded split holds no pixels."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hni_dsl.errors import HniError
from hni_engine.data import image_array
from hni_engine.data.image_array import ConcatImages, FileImages, batches, take
from hni_engine.data.images import DataError, load_image, load_image_folder

SIZE = 8


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory: pytest.TempPathFactory) -> tuple[FileImages, np.ndarray]:
    folder = tmp_path_factory.mktemp("images")
    pixels = _pixels(12)
    paths = []
    for i, image in enumerate(pixels):
        paths.append(str(folder / f"{i:02d}.png"))
        Image.fromarray(image).save(paths[-1])
    return FileImages(paths, SIZE, load_image), pixels


def test_file_images_read_like_the_array(on_disk: tuple[FileImages, np.ndarray]) -> None:
    lazy, pixels = on_disk
    assert lazy.shape == pixels.shape and len(lazy) == len(pixels)
    assert np.array_equal(lazy[3], pixels[3]) and np.array_equal(lazy[-1], pixels[-1])
    assert np.array_equal(lazy[2:9:3], pixels[2:9:3])
    assert np.array_equal(lazy[np.array([5, 0, 5])], pixels[[5, 0, 5]])
    assert np.array_equal(lazy[pixels[:, 0, 0, 0] > 128], pixels[pixels[:, 0, 0, 0] > 128])
    assert np.array_equal(np.stack(list(lazy)), pixels)
    assert np.array_equal(take(lazy, np.array([7, 1]))[:], pixels[[7, 1]])
    assert isinstance(take(lazy, np.array([7, 1])), FileImages)  # a subset stays on disk


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    picks=st.lists(st.integers(-20, 40), max_size=12),
)
def test_concat_reads_like_np_concatenate(sizes: list[int], picks: list[int]) -> None:
    parts = [_pixels(n, seed=k) for k, n in enumerate(sizes)]
    joined, whole = ConcatImages(parts), np.concatenate(parts)
    assert len(joined) == len(whole) and joined.shape == whole.shape
    valid = [p for p in picks if -len(whole) <= p < len(whole)]
    assert np.array_equal(joined[np.array(valid, dtype=np.int64)], whole[valid])
    for p in picks:
        if -len(whole) <= p < len(whole):
            assert np.array_equal(joined[p], whole[p])
        else:
            with pytest.raises(IndexError):
                joined[p]
    if len(whole):
        assert np.array_equal(np.stack(list(joined)), whole)


def test_concat_of_files_and_arrays(on_disk: tuple[FileImages, np.ndarray]) -> None:
    lazy, pixels = on_disk
    made = _pixels(3, seed=9)
    joined = ConcatImages([lazy, made])
    assert np.array_equal(joined[np.arange(len(joined))], np.concatenate([pixels, made]))


def test_batches_with_workers_match_batches_in_process(
    on_disk: tuple[FileImages, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    lazy, pixels = on_disk
    monkeypatch.setattr(image_array, "WORKER_MIN_IMAGES", 1)  # twelve images are few; use the workers anyway
    order = [np.array([4, 1]), np.array([11, 0, 2]), np.array([7])]
    here = list(batches(lazy, order, workers=0))
    there = list(batches(lazy, order, workers=2))
    assert len(here) == len(there) == 3
    for a, b, idx in zip(here, there, order):
        assert np.array_equal(a, b) and np.array_equal(a, pixels[idx])


def test_a_loaded_split_holds_no_pixels(tmp_path: Path) -> None:
    size, per_class = 64, 40
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(per_class):
            image = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    tracemalloc.start()
    data = load_image_folder(tmp_path, size)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    all_pixels = 2 * per_class * size * size * 3
    assert isinstance(data.images, FileImages)
    assert held < all_pixels / 4, f"{held} bytes held after loading {all_pixels} bytes of pixels"
    assert len(data.digests) == len(data) == 2 * per_class
    assert np.array_equal(data.images[per_class], load_image(data.paths[per_class], size))


def test_worker_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HNI_DATA_WORKERS", "3")
    assert image_array.default_workers() == 3
    monkeypatch.setenv("HNI_DATA_WORKERS", "0")
    assert image_array.default_workers() == 0
    for bad in ("two", "-1", "1.5", "999"):
        monkeypatch.setenv("HNI_DATA_WORKERS", bad)
        with pytest.raises(HniError, match="HNI_DATA_WORKERS"):
            image_array.default_workers()


def test_a_file_changed_after_loading_is_refused_by_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    data = load_image_folder(tmp_path, SIZE)
    subset = data.subset(np.array([4, 1]))  # a subset checks its own files too
    assert np.array_equal(subset.images[0], data.images[4])
    changed = Path(data.paths[4])
    Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)).save(changed)
    for read in (lambda: data.images[4], lambda: subset.images[0], lambda: data.images[np.array([0, 4])]):
        with pytest.raises(DataError, match=f"{changed}: changed while this command was running"):
            read()
    assert np.array_equal(data.images[0], load_image(data.paths[0], SIZE))  # the others still read
