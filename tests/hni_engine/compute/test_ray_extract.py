"""`hni extract --backend ray` against `local`: same concepts, same evidence, same network after apply.

Needs Ray (`pip install 'hni[scale]'`); skipped with the reason otherwise, unless HNI_REQUIRE_RAY=1 (CI
sets it where it installs the extra), which makes a missing Ray a failure. The Ray is started here, on
this machine's two cores, and shut down after.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

try:
    import ray
except ImportError:
    if os.environ.get("HNI_REQUIRE_RAY") == "1":
        raise
    pytest.skip(
        "Ray is not installed (pip install 'hni[scale]'); HNI_REQUIRE_RAY=1 fails instead", allow_module_level=True
    )

from hni_engine.cli.app import main
from hni_engine.compute.backend import Backend
from hni_engine.compute.shards import run_shards


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


# The tasks are library functions (json.loads): a worker imports a task by its module, and this test module
# is not importable there.


def test_shards_run_as_ray_tasks_and_come_back_in_order(local_ray):
    read = run_shards(Backend("ray"), json.loads, [(f"[{i}, {i * i}]",) for i in range(7)], [1] * 7, "reading")
    assert read == [[i, i * i] for i in range(7)]


def test_a_failed_task_is_reported_with_its_shard(local_ray):
    from hni_engine.compute.backend import BackendError

    with pytest.raises(BackendError, match=r"task 2 of 2 failed on Ray: JSONDecodeError: Expecting value"):
        run_shards(Backend("ray"), json.loads, [("1",), ("bad",)], [1, 1], "failing")


def _classes(root):
    return {c["name"]: c for c in json.loads((root / "concepts" / "library.json").read_text())["classes"]}


@pytest.mark.slow
def test_ray_gives_the_library_and_the_network_local_gives(tiny_extracted, tmp_path, local_ray):
    runs = {}
    for backend in ("local", "ray"):
        root = tmp_path / backend
        shutil.copytree(tiny_extracted, root)
        shutil.rmtree(root / ".hni" / "cache", ignore_errors=True)
        assert main(["-w", str(root), "extract", "--device", "cpu", "--backend", backend]) == 0
        runs[backend] = root
    local, distributed = _classes(runs["local"]), _classes(runs["ray"])
    assert local.keys() == distributed.keys()
    for name, entry in local.items():
        other = distributed[name]
        assert [c["id"] for c in entry["pool"]] == [c["id"] for c in other["pool"]]
        for a, b in zip(entry["pool"], other["pool"]):
            assert abs(a["importance"] - b["importance"]) <= 0.02, (name, a["id"])
    report = json.loads((runs["ray"] / "concepts" / "extract.json").read_text())
    assert report["compute"].startswith("ray")
    staged = runs["ray"] / ".hni" / "ray-train"  # the GRN trained on Ray Train, its checkpoints removed after
    assert staged.is_dir() and not any(staged.iterdir()) and not (runs["local"] / ".hni" / "ray-train").exists()

    accuracy = {}
    for backend, root in runs.items():
        name = next(n for n, e in _classes(root).items() if e["graph"]["edges"])
        (root / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")
        assert main(["-w", str(root), "apply", "--device", "cpu"]) == 0
        run_id = (root / "runs" / "HEAD").read_text().strip()
        accuracy[backend] = json.loads((root / "runs" / run_id / "metrics.json").read_text())
    assert abs(_overall(accuracy["local"]) - _overall(accuracy["ray"])) <= 0.01


def _overall(metrics: dict) -> float:
    return float(metrics["after"]["accuracy"])


@pytest.mark.slow
def test_distillation_on_ray_train_matches_local(tiny_extracted, tmp_path, local_ray):
    """`hni apply --backend ray`: two DDP workers, each half of every batch; test accuracy within a point."""
    metrics = {}
    for backend in ("local", "ray"):
        root = tmp_path / backend
        shutil.copytree(tiny_extracted, root)
        name = next(n for n, e in _classes(root).items() if e["graph"]["edges"])
        (root / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")
        assert main(["-w", str(root), "apply", "--device", "cpu", "--backend", backend]) == 0
        run_id = (root / "runs" / "HEAD").read_text().strip()
        metrics[backend] = json.loads((root / "runs" / run_id / "metrics.json").read_text())
        assert not (root / ".hni" / "ray-train").exists() or not any((root / ".hni" / "ray-train").iterdir())
    assert metrics["ray"]["distill"]["compute"].startswith("ray")
    assert len(metrics["ray"]["distill"]["loss"]) == len(metrics["local"]["distill"]["loss"])
    assert abs(_overall(metrics["local"]) - _overall(metrics["ray"])) <= 0.01


def test_a_batch_too_small_to_share_is_refused_before_any_work(tiny_extracted, tmp_path, capsys):
    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root)
    toml = root / "hni.toml"
    text = toml.read_text()
    assert "\nworkers = 2\n" in text  # compute.workers, the only `workers` key
    toml.write_text(text.replace("\nworkers = 2\n", "\nworkers = 9\n"))
    name = next(n for n, e in _classes(root).items() if e["graph"]["edges"])
    (root / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")
    assert main(["-w", str(root), "apply", "--device", "cpu", "--backend", "ray"]) != 0
    assert "cannot be shared by 9 workers" in capsys.readouterr().err
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())
