"""`hni suggest`: each detector on crafted evidence, the script it writes (checks, canonical, commented
guesses), and the command (next script number, never overwrites, blind to the data's metadata)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_dsl import make_plan
from hni_dsl.formatter import format_text
from hni_dsl.library import ClassEntry, Library, load_library
from hni_dsl.library_pool import Confusion, ErrorAnalysis
from hni_engine.cli.app import main
from hni_engine.present.suggest_script import next_script_path, suggest
from hni_engine.present.suggestions import (
    defined_class,
    false_share,
    spurious_concepts,
    unstable_concepts,
    weak_classes,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "library.json"


def _evidence(entry: ClassEntry, **by_rank: dict[str, object]) -> ClassEntry:
    """``entry`` with its pool[N] concepts given evidence (``p3={...}`` sets pool[3]'s fields); every other
    concept carries significant, stable evidence that goes with right answers."""
    pool = []
    for rank, concept in enumerate(entry.pool, start=1):
        update: dict[str, object] = {
            "logit_drop": 1.0 / rank,
            "interval": (0.5 / rank, 1.5 / rank),
            "p_value": 0.001,
            "stable": True,
            "errors": ErrorAnalysis(accuracy_with=0.9, accuracy_without=0.8, images_with=20, images_without=40),
        }
        update.update(by_rank.get(f"p{rank}", {}))
        pool.append(concept.model_copy(update=update))
    return entry.model_copy(update={"pool": tuple(pool)})


def _wrong(name: str, images: int, wrong: int) -> ErrorAnalysis:
    confusions = (Confusion(true="other", predicted=name, images=wrong),) if wrong else ()
    return ErrorAnalysis(
        accuracy_with=0.5, accuracy_without=0.9, images_with=images, images_without=30, confusions=confusions
    )


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(EXAMPLE)


def test_false_share_counts_other_classes_called_this_one(library):
    concept = library.classes[0].pool[0].model_copy(update={"errors": _wrong("fire_engine", 20, 12)})
    assert false_share(concept, "fire_engine") == (0.6, 20)
    assert false_share(library.classes[0].pool[0].model_copy(update={"errors": None}), "fire_engine") is None


def test_a_concept_that_goes_with_mistakes_is_replaced_then_forbidden(library):
    fire = library.get("fire_engine")
    # slot 2 (pool[2]) drags other classes' images to fire_engine in 12 of 20 test images
    entry = _evidence(fire, p2={"errors": _wrong("fire_engine", 20, 12)})
    found = spurious_concepts(entry)
    statements = [f.statement for f in found]
    assert statements == ["replace concept 2 with pool[5]", "forbid pool[2]"]  # pool[5]: first not in the graph
    assert all(f.confidence == "high" for f in found) and "60% of the 20 test images" in found[0].reason
    # the same share on fewer images is less sure; an insignificant concept is not flagged at all
    few = _evidence(fire, p2={"errors": _wrong("fire_engine", 6, 4)})
    assert {f.confidence for f in spurious_concepts(few)} == {"medium"}
    weak = _evidence(fire, p2={"errors": _wrong("fire_engine", 20, 12), "p_value": 0.4})
    assert spurious_concepts(weak) == []
    # a concept that goes with right answers is left alone
    assert spurious_concepts(_evidence(fire)) == []


def test_an_unstable_node_gets_a_stable_replacement(library):
    fire = library.get("fire_engine")
    entry = _evidence(fire, p3={"stable": False, "logit_drop": 0.4}, p5={"stable": False})
    (found,) = unstable_concepts(entry)
    assert found.statement == "replace concept 3 with pool[6]"  # pool[5] is unstable too
    assert found.confidence == "low"  # pool[6]'s drop (0.167) is under half of concept 3's (0.4)
    strong = _evidence(fire, p3={"stable": False, "logit_drop": 0.2})
    assert unstable_concepts(strong)[0].confidence == "medium"
    # nothing stable and significant left to take the slot: a finding without a statement
    none_left = _evidence(fire, **{f"p{r}": {"stable": False} for r in range(1, 26)})
    assert all(f.statement is None for f in unstable_concepts(none_left))


def test_weak_classes_name_what_they_are_taken_for():
    found = weak_classes({"a": 0.9, "b": 0.4}, [[9, 1], [6, 4]], ["a", "b"])
    assert [(f.class_name, f.statement) for f in found] == [("b", None)]
    assert "taken for a (6 of 10 test images)" in found[0].reason


def test_define_takes_each_part_from_its_class(library):
    entries = {n: _evidence(library.get(n)) for n in ("A", "E", "C", "D")}
    rich = library
    for entry in entries.values():
        rich = rich.with_class(entry)
    found = defined_class(rich, "I", ["A", "E", "C"], "D")
    assert found.statement == "define class I from A.pool[1], E.pool[1], C.pool[1], edges like D"
    with pytest.raises(ValueError, match="unknown class 'Z'"):
        defined_class(rich, "I", ["A", "Z"], None)


def test_the_script_checks_is_canonical_and_comments_out_guesses(library, tmp_path):
    rich = library.with_class(
        _evidence(library.get("fire_engine"), p2={"errors": _wrong("fire_engine", 20, 12)}, p3={"stable": False})
    ).with_class(_evidence(library.get("tank"), p1={"stable": False, "logit_drop": 5.0}))
    drafted = suggest(rich, tmp_path / "missing.json", ["fire_engine", "tank"])
    assert format_text(drafted.text) == drafted.text  # `hni fmt --check` accepts it
    outcome = make_plan(rich, [("suggested.hni", drafted.text)])
    assert outcome.plan is not None and not [d for d in outcome.diagnostics if d.is_error]
    assert "\n    forbid pool[2]\n" in drafted.text and "\n    replace concept 2 with pool[5]\n" in drafted.text
    # tank's unstable node has only a much weaker replacement: written, but commented out
    assert "# class tank:" in drafted.text and "# replace concept 1 with pool[5]" in drafted.text
    assert drafted.text.count("spurious (high)") == 2


def test_next_script_number(tmp_path):
    (tmp_path / "0001_a.hni").write_text("")
    (tmp_path / "0007-b.hni").write_text("")
    assert next_script_path(str(tmp_path / "NNNN-suggested.hni")) == tmp_path / "0008-suggested.hni"
    assert next_script_path(str(tmp_path / "mine.hni")) == tmp_path / "mine.hni"


def test_the_command_is_blind_to_the_generator(tiny_extracted, tmp_path, capsys, monkeypatch):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws, ignore=shutil.ignore_patterns(".hni"))
    assert main(["-w", str(ws), "suggest"]) == 0
    first = capsys.readouterr().out
    # without the scenario's ground truth the output is the same: no detector reads it
    (ws / "data" / "metadata.jsonl").unlink()
    (ws / "data" / "scenario.json").unlink()
    assert main(["-w", str(ws), "suggest"]) == 0
    assert capsys.readouterr().out == first
    assert main(["-w", str(ws), "suggest", "-o", str(ws / "edits" / "NNNN-suggested.hni")]) == 0
    written = ws / "edits" / "0001-suggested.hni"
    assert written.read_text() == first and "nothing applied" in capsys.readouterr().err
    assert main(["-w", str(ws), "check", str(written)]) == 0
    assert main(["fmt", "--check", str(written)]) == 0
    monkeypatch.chdir(tmp_path)  # "-o -" is standard output: no file named "-"
    capsys.readouterr()
    assert main(["-w", str(ws), "suggest", "-o", "-"]) == 0
    assert capsys.readouterr().out == first and not (tmp_path / "-").exists()
    assert main(["-w", str(ws), "suggest", "-o", str(written)]) == 1  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["-w", str(ws), "suggest", "nosuch"]) == 1
    assert "unknown class 'nosuch'" in capsys.readouterr().err
    library = json.loads((ws / "concepts" / "library.json").read_text())
    a, b = (e["name"] for e in library["classes"][:2])
    assert main(["-w", str(ws), "suggest", "--define", "Zed", "--from", f"{a},{b}"]) in (0, 1)
    assert main(["-w", str(ws), "suggest", "--define", "Zed"]) == 1
    assert "needs --from" in capsys.readouterr().err
    # a name no script could hold, and an output whose folder does not exist: refused, nothing made
    assert main(["-w", str(ws), "suggest", "--define", "bad\nname", "--from", f"{a},{b}"]) == 1
    assert "control character" in capsys.readouterr().err
    assert main(["-w", str(ws), "suggest", "-o", str(tmp_path / "nodir" / "deep" / "x.hni")]) != 0
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "nodir").exists()
