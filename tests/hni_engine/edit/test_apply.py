"""`hni apply` on a tiny world: run folders, re-apply, stale plans, interrupted runs, defined classes, demo.

Tiny on purpose (three classes, a dozen images each, one distillation epoch): it proves the human -> NN
path fits together and keeps the workspace safe. The quality of edits is measured in benchmarks/.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hni_engine.cli.app import main
from hni_engine.progress import set_quiet


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _library(ws: Path) -> dict:
    return json.loads((ws / "concepts" / "library.json").read_text())


def _edge_script(ws: Path, name: str = "001_edges.hni") -> Path:
    entry = next(e for e in _library(ws)["classes"] if e["graph"]["edges"])
    path = ws / "edits" / name
    path.write_text(f"class {entry['name']}: drop edges *\n")
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under the workspace with its content hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_apply_writes_a_complete_run_and_moves_head(ws, capsys):
    script = _edge_script(ws)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    run_id = (ws / "runs" / "HEAD").read_text().strip()
    run = ws / "runs" / run_id
    assert f"run written to {run}" in out and "before   after" in out
    for name in (
        "model.pt",
        "classes.json",
        "library.json",
        "metrics.json",
        "provenance.json",
        "plan.txt",
        "plan.json",
        "grn.pt",
    ):
        assert (run / name).is_file(), name
    assert [p.read_text() for p in (run / "scripts").iterdir()] == [script.read_text()]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "edge" and len(metrics["edited_classes"]) == 1
    assert set(metrics["before"]["per_class"]) == set(metrics["after"]["per_class"]) == set(metrics["classes"])
    assert metrics["mean_change"]["edited"]["classes"] == metrics["edited_classes"]
    assert metrics["rebuild"]["forward_passes_train"] == 0  # the I-SCGs came from the cache
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["base_model"]["sha256"] == hashlib.sha256((ws / "model" / "base.pt").read_bytes()).hexdigest()
    assert prov["scripts"][0]["sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert prov["config"]["sha256"] == hashlib.sha256((ws / "hni.toml").read_bytes()).hexdigest()
    assert prov["model_sha256"] == hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
    assert prov["seed"] == 0 and prov["versions"]["torch"]
    # The run's library records the script and the network it describes.
    library = json.loads((run / "library.json").read_text())
    assert library["applied"][0]["sha256"] == prov["scripts"][0]["sha256"]
    assert library["meta"]["model_sha256"] == prov["model_sha256"]
    # `hni eval` reads a run folder.
    assert main(["-w", str(ws), "eval", "--model", str(run), "--device", "cpu"]) == 0
    assert "confusion" in capsys.readouterr().out


def test_reapplying_is_a_no_op_that_says_so(ws, capsys):
    _edge_script(ws)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    before = _snapshot(ws)
    capsys.readouterr()
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "nothing to apply" in out and "already applied" in out
    assert _snapshot(ws) == before
    # Planning against the current library says so too (it defaults to runs/HEAD's library).
    assert main(["-w", str(ws), "plan"]) == 0


def test_run_model_loads_as_a_plain_torchvision_model(ws):
    _edge_script(ws)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    code = (
        "import sys\n"
        "for name in ('hni_engine', 'hni_dsl'): sys.modules[name] = None  # importing hni would fail\n"
        "import json, torch, torchvision\n"
        f"ckpt = torch.load({str(run / 'model.pt')!r}, weights_only=True)\n"
        f"classes = json.load(open({str(run / 'classes.json')!r}))\n"
        "model = torchvision.models.get_model(ckpt['arch'], num_classes=len(classes))\n"
        "model.load_state_dict(ckpt['state_dict'])\n"
        "assert ckpt['classes'] == classes\n"
        "print('ok', len(classes))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 3"


def test_a_stale_plan_is_refused(ws, capsys):
    script = _edge_script(ws)
    plan = ws / "plan.json"
    assert main(["-w", str(ws), "plan", str(script), "-o", str(plan)]) == 2
    # The script changes after the plan was made: refused, nothing written.
    original = script.read_text()
    script.write_text(original + "# reviewed\n")
    before = _snapshot(ws)
    assert main(["-w", str(ws), "apply", str(plan), "--device", "cpu"]) == 1
    assert "changed since the plan was made" in capsys.readouterr().err
    assert _snapshot(ws) == before
    # Back as planned: accepted. Then the library has moved on, so the same plan is stale.
    script.write_text(original)
    assert main(["-w", str(ws), "apply", str(plan), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["-w", str(ws), "apply", str(plan), "--device", "cpu"]) == 1
    assert "the plan was made against library" in capsys.readouterr().err


def test_a_file_that_is_not_a_plan_is_refused(ws, capsys):
    bogus = ws / "bogus.json"
    bogus.write_text('{"format": "something-else"}')
    assert main(["-w", str(ws), "apply", str(bogus), "--device", "cpu"]) == 1
    assert f"{bogus}: not an hni plan" in capsys.readouterr().err


def test_a_script_with_an_error_applies_nothing(ws, capsys):
    (ws / "edits" / "001_bad.hni").write_text("class no_such_class: drop edges *\n")
    before = _snapshot(ws)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    assert "error[E101]" in capsys.readouterr().err
    assert _snapshot(ws) == before


def test_an_interrupted_apply_leaves_the_workspace_unchanged(ws, monkeypatch):
    from hni_engine.edit import distill

    _edge_script(ws)
    before = _snapshot(ws)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C half-way through distillation

    monkeypatch.setattr(distill, "distill", interrupted)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 130
    assert _snapshot(ws) == before
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())


def test_a_failure_while_writing_the_run_leaves_nothing_behind(ws, monkeypatch, capsys):
    from hni_engine.edit import record as apply_module

    _edge_script(ws)
    before = _snapshot(ws)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", "runs/x/library.json")

    monkeypatch.setattr(apply_module, "write_library", broken)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "runs/x/library.json: No space left on device" in err and "Traceback" not in err
    after = _snapshot(ws)
    assert after == before


def test_define_class_grows_the_network(ws, capsys):
    names = [e["name"] for e in _library(ws)["classes"]]
    (ws / "edits" / "001_define.hni").write_text(
        f"define class hybrid from {names[0]}.c1, {names[1]}.c2, edges like {names[2]}\n"
    )
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    classes = json.loads((run / "classes.json").read_text())
    assert classes == names + ["hybrid"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "zeroshot" and metrics["distill"]["beta"] == 0.0
    assert metrics["synthetic_graphs"]["hybrid"] > 0
    # The test split has no images of the new class: it is left out of the evaluation, not faked.
    assert "hybrid" not in metrics["evaluated_classes"]
    library = json.loads((run / "library.json").read_text())
    assert next(e for e in library["classes"] if e["name"] == "hybrid")["output_index"] == 3
    import torch

    assert torch.load(run / "model.pt", weights_only=True)["state_dict"]["fc.weight"].shape[0] == 4
    assert "run written to" in out


def test_quick_demo_runs_to_its_table(tmp_path, capsys, monkeypatch):
    from hni_engine.cli import demo
    from hni_engine.cli.demo_compare import NO_EDIT_ROW, ORACLE_ROW, SUGGESTED_ROW

    # The demo's own quick settings, shrunk further so the test stays fast; the path is the same.
    original = demo.quick_overrides

    def smaller(config):
        c = original(config)
        return c.model_copy(
            update={
                "train": c.train.model_copy(update={"epochs": 2}),
                "grn": c.grn.model_copy(update={"epochs": 5}),
                "distill": c.distill.model_copy(update={"epochs": 1}),
            }
        )

    monkeypatch.setattr(demo, "quick_overrides", smaller)
    set_quiet(True)
    target = tmp_path / "demo"
    assert main(["demo", "--quick", "--dir", str(target), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "before   after" in out and "edited classes: mean accuracy" in out
    assert (target / "edits" / "001_posebias-oracle.hni").read_text().count("drop edges *") >= 1
    # The last table: oracle, suggested (accepted blindly) and no edit, each from what its network recorded.
    table = out[out.rindex("edited classes (") :]
    lines = {name: table.split(name, 1)[1].split("\n", 1)[0] for name in (ORACLE_ROW, SUGGESTED_ROW, NO_EDIT_ROW)}
    numbers = {name: [float(x) for x in re.findall(r"\b\d\.\d{3}\b", line)] for name, line in lines.items()}
    assert main(["-w", str(target), "runs", "--json"]) == 0
    runs = {r["id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    oracle = next(i for i, r in runs.items() if r["scripts"] == ["001_posebias-oracle.hni"])
    assert (target / "runs" / "HEAD").read_text().strip() == oracle  # HEAD stays on the oracle run
    assert lines[ORACLE_ROW].endswith(f"run {oracle} (HEAD)")
    metrics = json.loads((target / "runs" / oracle / "metrics.json").read_text())
    base = json.loads((target / "model" / "base.json").read_text())
    edited = [base["per_class"][c] for c in metrics["edited_classes"]]
    # "edited classes" are the oracle's; "all classes" is the accuracy the run and `hni train` recorded
    assert numbers[ORACLE_ROW][-1] == round(metrics["after"]["accuracy"], 3)
    assert numbers[NO_EDIT_ROW][0] == round(sum(edited) / len(edited), 3)
    assert numbers[NO_EDIT_ROW][-1] == round(base["test_accuracy"], 3)
    suggested = target / "edits" / "0002-suggested.hni"
    assert suggested.read_text().startswith("# Suggested by `hni suggest`")
    others = [r for i, r in runs.items() if i != oracle]
    if not numbers[SUGGESTED_ROW]:  # nothing proposed: nothing applied
        assert "no statement proposed in 0002-suggested.hni; nothing applied" in lines[SUGGESTED_ROW] and not others
    else:  # applied to the same extraction as the oracle, not on top of it
        assert [(r["parent"], r["scripts"]) for r in others] == [("base", ["0002-suggested.hni"])]
        assert lines[SUGGESTED_ROW].endswith(f"run {others[0]['id']}")
        assert numbers[SUGGESTED_ROW][-1] == round(runs[others[0]["id"]]["after_accuracy"], 3)
    # A second demo into the same folder is refused unless --force.
    assert main(["demo", "--quick", "--dir", str(target), "--device", "cpu"]) == 1


def test_quick_demo_keeps_the_discovery_of_a_whole_image_scenario():
    """Whole-image candidates are mostly background: the quick demo's smaller k-means is for Grad-CAM regions."""
    from hni_engine.cli.demo import quick_overrides
    from hni_engine.cli.init_workspace import scenario_config

    posebias, zeroshot = scenario_config("posebias", 0, 64), scenario_config("zeroshot", 0, 64)
    assert quick_overrides(posebias).extract == posebias.extract
    assert quick_overrides(posebias).grn.epochs == quick_overrides(zeroshot).grn.epochs == 40
    assert quick_overrides(zeroshot).extract.clusters == 12 < zeroshot.extract.clusters


def test_composite_images_put_the_defined_class_in_pixels(ws):
    import re

    toml = ws / "hni.toml"
    text = toml.read_text()
    text = re.sub(r"composite_images = false", "composite_images = true", text)
    toml.write_text(text)
    names = [e["name"] for e in _library(ws)["classes"]]
    (ws / "edits" / "001_define.hni").write_text(
        f"define class hybrid from {names[0]}.c1, {names[1]}.c2, edges like {names[2]}\n"
    )
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["distill"]["composite_images"] == metrics["synthetic_graphs"]["hybrid"] > 0


def test_a_later_apply_teaches_from_the_current_network_including_its_defined_classes(ws, monkeypatch):
    from hni_engine.edit import distill

    names = [e["name"] for e in _library(ws)["classes"]]
    (ws / "edits" / "001_define.hni").write_text(
        f"define class hybrid from {names[0]}.c1, {names[1]}.c2, edges like {names[2]}\n"
    )
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    seen = []
    original = distill.combined_soft_label

    def spy(original_logits, *args, **kwargs):
        seen.append(original_logits)
        return original(original_logits, *args, **kwargs)

    monkeypatch.setattr(distill, "combined_soft_label", spy)
    _edge_script(ws, "002_edges.hni")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    assert json.loads((run / "classes.json").read_text()) == names + ["hybrid"]
    # Teacher 2 is the previous run's network, which has an output for `hybrid`: its logits are used, not -inf.
    assert seen and all(bool(torch.isfinite(logits).all()) for logits in seen)


def _test_image(ws: Path) -> Path:
    return next(p for p in sorted((ws / "data" / "test").rglob("*.png")))


def test_explain_reads_the_current_run(ws, capsys):
    """After an edit, `hni explain` shows the run's network, edited graph and retrained GRN, not extraction's."""
    entry = next(e for e in _library(ws)["classes"] if e["graph"]["edges"])
    (ws / "edits" / "001_edges.hni").write_text(f"class {entry['name']}: drop edges *\n")
    image = str(_test_image(ws))
    assert main(["-w", str(ws), "explain", image, "--why-not", entry["name"]]) == 0
    base = capsys.readouterr().out
    assert "(the extraction; no run yet)" in base
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run_id = (ws / "runs" / "HEAD").read_text().strip()
    capsys.readouterr()
    assert main(["-w", str(ws), "explain", image, "--why-not", entry["name"]]) == 0
    out = capsys.readouterr().out
    assert f"(run {run_id})" in out
    # Each explanation says how far its GRN agrees with its network: extraction's, then the run's own.
    fidelity = json.loads((ws / "runs" / run_id / "metrics.json").read_text())["grn"]["fidelity"]
    assert 0.0 <= fidelity <= 1.0
    assert f"agrees with this network on {fidelity:.3f} of held-out images" in out
    extract_fidelity = json.loads((ws / "concepts" / "extract.json").read_text())["fidelity_test"]
    assert f"agrees with this network on {extract_fidelity:.3f} of held-out images" in base
    # The edited class lost its edges in the run: its why-not graph lists concepts and no edge.
    why_not = out.split(f"why not {entry['name']}")[1]
    own = why_not.split("graph: total")[0]
    assert "concept 1" in own and "edge " not in own
    assert "edge " in base.split(f"why not {entry['name']}")[1].split("graph: total")[0]
    # --why-not lists what the class's graph expected and the image lacks: exactly its absent slots.
    for section in (own, base.split(f"why not {entry['name']}")[1].split("graph: total")[0]):
        absent = [
            line.split()[1] for line in section.splitlines() if line.strip().startswith("concept") and "absent" in line
        ]
        expected = next(line for line in section.splitlines() if "expected and did not find" in line)
        assert [w for w in expected.replace(",", " ").split() if w.isdigit()] == absent or (
            not absent and "every concept is there" in expected
        )
    # --base explains the extraction even though a run exists; --run by prefix picks the run.
    assert main(["-w", str(ws), "explain", image, "--base"]) == 0
    assert "(the extraction)" in capsys.readouterr().out
    assert main(["-w", str(ws), "explain", image, "--run", run_id[:4]]) == 0
    assert f"(run {run_id})" in capsys.readouterr().out
    assert main(["-w", str(ws), "explain", image, "--run", "9999"]) == 1
    assert "--run '9999': no such run" in capsys.readouterr().err


def test_explain_answers_why_not_a_defined_class(ws, capsys):
    names = [e["name"] for e in _library(ws)["classes"]]
    (ws / "edits" / "001_define.hni").write_text(
        f"define class hybrid from {names[0]}.c1, {names[1]}.c2, edges like {names[2]}\n"
    )
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    capsys.readouterr()
    png = ws / "why.png"
    assert main(["-w", str(ws), "explain", str(_test_image(ws)), "--why-not", "hybrid", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "over 4 classes of interest" in out and "why not hybrid" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_applies_in_one_process_give_the_same_network(ws, tmp_path):
    """The benchmarks apply many times in one process: each apply must not depend on what ran before it."""
    _edge_script(ws)
    digests = []
    for _ in range(2):
        torch.rand(7)  # whatever the process drew before must not matter
        assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
        run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
        digests.append(
            {name: hashlib.sha256((run / name).read_bytes()).hexdigest() for name in ("grn.pt",)}
            | {"model": _state_digest(run / "model.pt")}
        )
        shutil.rmtree(ws / "runs")
    assert digests[0] == digests[1]


def _state_digest(path: Path) -> str:
    state = torch.load(path, weights_only=True)["state_dict"]
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].numpy().tobytes())
    return h.hexdigest()


def test_forbid_erases_the_concept_where_it_shows_and_records_it(ws):
    library = _library(ws)
    entry = next(e for e in library["classes"] if len(e["graph"]["nodes"]) > 1)
    concept = entry["graph"]["nodes"][0]
    (ws / "edits" / "001_forbid.hni").write_text(f"class {entry['name']}: forbid concept 1\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "node" and metrics["edited_classes"] == [entry["name"]]
    assert metrics["distill"]["forbidden"] == {entry["name"]: [concept]}
    assert entry["name"] in metrics["distill"]["forbidden_images"]
    after = next(e for e in json.loads((run / "library.json").read_text())["classes"] if e["name"] == entry["name"])
    assert after["forbidden"] == [concept] and after["graph"]["nodes"] == entry["graph"]["nodes"][1:]


def test_a_forbidden_concept_is_erased_only_where_it_is_the_nearest_concept():
    """Background near the forbidden anchor but nearer another concept of the class is not erased."""
    from types import SimpleNamespace

    import numpy as np

    from hni_dsl.library import ClassEntry, Graph, Library, PoolConcept
    from hni_engine.data.images import ImageSet
    from hni_engine.discovery.analysis import ImagePatches
    from hni_engine.edit.masks import forbidden_concept_masks

    pool = tuple(PoolConcept(id=f"a/{k}", importance=1.0) for k in ("part", "ctx", "bg"))
    library = Library(classes=(ClassEntry(name="a", output_index=0, pool=pool, graph=Graph(nodes=("a/part",))),))
    anchors = {"a/part": np.array([0.0, 0.0]), "a/ctx": np.array([1.0, 0.0]), "a/bg": np.array([2.0, 0.0])}
    extracted = type("Extracted", (), {"anchors": anchors, "thresholds": {k: 0.9 for k in anchors}})()
    # Four segments: on the context anchor, near it but nearer the background one, on the part, far off.
    features = np.array([[1.0, 0.0], [1.6, 0.0], [0.1, 0.0], [9.0, 9.0]], dtype=np.float32)
    patches = [ImagePatches(features, np.zeros((4, 2), np.float32), np.ones((1, 4), bool))]
    segment_masks = np.zeros((4, 4, 4), bool)
    for s in range(4):
        segment_masks[s, s] = True  # segment s is row s of the image

    class Analyser:
        def masks(self, image, digest):
            return segment_masks

    images = np.zeros((1, 4, 4, 3), np.uint8)
    train = ImageSet(["a"], images, np.array([0]), ["x.png"], "/", ["d0"])
    # The stage context, as far as the masks read it.
    ctx = SimpleNamespace(
        extracted=extracted,
        library_after=library,
        coi_names=["a"],
        coi=[0],
        train=train,
        coi_train=train,
        train_patches=patches,
        analyser=Analyser(),
    )
    masks, counts = forbidden_concept_masks(ctx, {"a": ("a/ctx",)})
    assert counts == {"a": 1}
    assert masks[0].any(dim=1).tolist() == [True, False, False, False]
