"""Fuzz: hostile library.json, plan JSON and hni.toml never end in a traceback, and a failing command changes
nothing.

Each example runs a real command through the CLI entry point and checks that its exit status is one of
hni's documented statuses (0 ok, 1 errors, 2 plan has changes, 3 usage or input problem), that nothing on
stderr is a traceback (an exception escaping `main` fails the example outright), and that the files of
the workspace are byte-for-byte unchanged whenever the command failed (`.hni/cache`, which any
command may fill and anyone may delete, aside). HNI_FUZZ_EXAMPLES=5000 runs thousands of examples.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hni_engine.cli.app import main
from hni_engine.progress import set_quiet

from .checks import tree_digest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = json.loads((ROOT / "examples" / "library.json").read_text())
SCRIPT = ROOT / "examples" / "edits" / "01_node_edit.hni"
STATUSES = {0, 1, 2, 3}

HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 2**64, -(2**63), 0, 1.5, True, False, None, "", "\x1b[2J", []]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree (keys and indexes from the root)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three places replaced by hostile values, or deleted."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in _paths(doc) if p]
        if not places:
            return draw(HOSTILE)
        path = draw(st.sampled_from(places))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(HOSTILE)
    return doc


# 60 examples a test in the default run; HNI_FUZZ_EXAMPLES=5000 for a long fuzz.
FUZZ = settings(
    max_examples=int(os.environ.get("HNI_FUZZ_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(doc=mutated(LIBRARY))
def test_fuzzed_library(tmp_path_factory, doc, capsys):
    folder = tmp_path_factory.mktemp("lib")
    (folder / "library.json").write_text(json.dumps(doc))
    before = tree_digest(folder, skip=(".hni", "cache"))
    for command in ("check", "plan"):
        status = main([command, "--library", str(folder / "library.json"), str(SCRIPT)])
        err = capsys.readouterr().err
        assert status in STATUSES and "Traceback" not in err
        assert tree_digest(folder, skip=(".hni", "cache")) == before


@st.composite
def toml_docs(draw: st.DrawFn) -> str:
    """A TOML file with hostile values under real and made-up keys."""
    keys = {
        "": ["seed"],
        "train": ["epochs", "batch_size", "lr"],
        "extract": ["clusters", "n_segments", "images_per_class", "min_cluster_images", "tcav_random_sets"],
        "grn": ["epochs", "lr", "batch_size"],
        "distill": ["epochs", "lr", "alpha", "beta"],
        "data": ["classes"],
        "model": ["arch", "input_size", "mean"],
    }
    lines: list[str] = []
    for section, names in keys.items():
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
        if not chosen:
            continue
        if section:
            lines.append(f"[{section}]")
        for name in chosen:
            lines.append(f"{name} = {draw(_toml_value())}")
    return "\n".join(lines) + "\n"


@st.composite
def _toml_value(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "float", "special", "bool", "str", "list", "table"]))
    if kind == "int":
        return str(draw(st.integers(-(2**70), 2**70)))
    if kind == "float":
        return repr(draw(st.floats(allow_nan=False, allow_infinity=False)))
    if kind == "special":
        return draw(st.sampled_from(["nan", "inf", "-inf", "+nan"]))
    if kind == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "str":
        return json.dumps(draw(st.text(max_size=8)))
    if kind == "list":
        return "[" + ", ".join(str(i) for i in draw(st.lists(st.integers(-5, 5), max_size=3))) + "]"
    return "{ a = 1 }"


@FUZZ
@given(text=toml_docs())
def test_fuzzed_config(tiny_extracted, tmp_path_factory, text, capsys):
    set_quiet(True)
    ws = tmp_path_factory.mktemp("cfg") / "ws"
    shutil.copytree(tiny_extracted, ws, ignore=shutil.ignore_patterns(".hni", "data"))
    (ws / "hni.toml").write_text(text)
    before = tree_digest(ws, skip=(".hni", "cache"))
    for argv in (["config"], ["check", str(SCRIPT)], ["apply", "--device", "cpu"]):
        status = main(["-w", str(ws), *argv])
        err = capsys.readouterr().err
        assert status in STATUSES and "Traceback" not in err
        if status != 0:
            assert tree_digest(ws, skip=(".hni", "cache")) == before
    shutil.rmtree(ws.parent)


@FUZZ
@given(data=st.data())
def test_fuzzed_plan(tiny_extracted, tmp_path_factory, data, capsys, monkeypatch):
    set_quiet(True)
    ws = tmp_path_factory.mktemp("plan") / "ws"
    shutil.copytree(tiny_extracted, ws, ignore=shutil.ignore_patterns(".hni"))
    monkeypatch.chdir(ws)
    library = json.loads((ws / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if e["graph"]["edges"])
    Path("a.hni").write_text(f"class {name}: drop edges *\n")
    assert main(["plan", "a.hni", "-o", "a.json"]) == 2
    plan = json.loads(Path("a.json").read_text())
    forged = data.draw(mutated(plan))

    def reviewed(doc: Any) -> Any:  # the `library` field only says where the plan was made; it binds nothing
        if not isinstance(doc, dict):
            return doc
        return {k: v for k, v in {"format": "hni-plan/1", **doc}.items() if k != "library"}  # format has a default

    if reviewed(forged) == reviewed(plan):
        return
    Path("a.json").write_text(json.dumps(forged))
    before = tree_digest(ws, skip=(".hni", "cache"))
    capsys.readouterr()
    status = main(["apply", "a.json", "--device", "cpu"])
    err = capsys.readouterr().err
    assert status in STATUSES - {0, 2} and "Traceback" not in err, err
    assert tree_digest(ws, skip=(".hni", "cache")) == before
    shutil.rmtree(ws.parent)
