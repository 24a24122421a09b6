"""The content-addressed cache: hits, misses, and corrupt entries recomputed rather than trusted."""

from __future__ import annotations

import pytest
import torch

from hni_engine.store.cache import Cache, cache_key


def test_hit_after_miss(tmp_path):
    cache = Cache(tmp_path)
    calls = []
    compute = lambda: calls.append(1) or {"x": torch.arange(3)}  # noqa: E731
    key = cache_key("stage", 1, "a")
    assert torch.equal(cache.get_or_compute("s", key, compute)["x"], torch.arange(3))
    assert torch.equal(cache.get_or_compute("s", key, compute)["x"], torch.arange(3))
    assert calls == [1] and (cache.hits, cache.misses) == (1, 1)


def test_keys_depend_on_every_part():
    assert cache_key("a", 1) != cache_key("a", 2) != cache_key("b", 1)
    assert cache_key({"x": 1, "y": 2}) == cache_key({"y": 2, "x": 1})


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_key"])
def test_corrupt_entry_is_recomputed(tmp_path, damage):
    cache = Cache(tmp_path)
    key = cache_key("k")
    cache.save("s", key, {"v": torch.ones(100)})
    path = cache.path("s", key)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "garbage":
        path.write_bytes(b"garbage")
    else:  # a valid entry filed under the wrong key
        cache.save("s", cache_key("other"), {"v": torch.zeros(1)})
        path.write_bytes(cache.path("s", cache_key("other")).read_bytes())
    with pytest.warns(UserWarning, match="unreadable"):
        value = cache.get_or_compute("s", key, lambda: {"v": torch.full((2,), 7.0)})
    assert torch.equal(value["v"], torch.full((2,), 7.0))
    assert cache.repaired == 1
    assert torch.equal(cache.load("s", key)["v"], torch.full((2,), 7.0))


def test_disabled_cache_never_reads_or_writes(tmp_path):
    cache = Cache(tmp_path, enabled=False)
    cache.save("s", "k", {"v": 1})
    assert cache.load("s", "k") is None and not any(tmp_path.iterdir())
