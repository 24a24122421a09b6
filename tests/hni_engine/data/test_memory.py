"""Freed memory handed back while a stage streams batches (hni_engine.data.memory)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from hni_engine.data import image_array, memory


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_release_every_passes_items_through_and_trims_every_kth(monkeypatch):
    trims: list[int] = []
    seen: list[int] = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(len(seen)))
    for item in memory.release_every(range(7), every=3):
        seen.append(item)
    assert seen == list(range(7))
    assert trims == [3, 6]  # after the 3rd and the 6th item had been used, not before


def test_batches_release_memory_as_they_stream(monkeypatch):
    trims: list[int] = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(1))
    images = np.zeros((40, 4, 4, 3), np.uint8)
    order = [np.arange(i, i + 2) for i in range(0, 40, 2)]  # 20 batches
    assert len(list(image_array.batches(images, order))) == 20
    assert len(trims) == 20 // memory.TRIM_EVERY


@pytest.mark.skipif(memory._malloc_trim() is None, reason="no glibc malloc_trim on this platform")
def test_a_fragmented_heap_shrinks_when_released():
    # What a per-image pass does: large buffers made and later freed, a small array kept per image between
    # them. glibc raises its mmap threshold once a large mmapped buffer is freed, so the later ones come
    # from the heap, and the kept arrays between them stop it shrinking on its own.
    np.ones(300_000 // 8).sum()  # one mmapped buffer freed: the threshold rises
    kept, large = [], []
    for _ in range(600):
        large.append(np.ones(300_000 // 8))  # 300 kB
        kept.append(np.ones(64))  # 512 bytes that outlive it
    del large
    before = _resident_mb()
    memory.release_free_memory()
    after = _resident_mb()
    assert before - after > 100, f"resident {before:.0f} MB -> {after:.0f} MB"
    assert len(kept) == 600


def test_release_is_a_no_op_without_glibc(monkeypatch):
    memory._malloc_trim.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert memory._malloc_trim() is None
        memory.release_free_memory()  # does nothing, raises nothing
    finally:
        memory._malloc_trim.cache_clear()
