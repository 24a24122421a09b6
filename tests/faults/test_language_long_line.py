"""One enormous line: diagnostics echo a bounded window of it, and checking stays small and quick."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from hni_dsl import Diagnostic, load_library, parse
from hni_dsl.errors import EXCERPT_WIDTH
from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "library.json"
TEN_MB = 10_000_000

# Each a single line of about 10 MB that the language refuses, with the problem at its start, middle or end.
LONG_LINES = {
    "error-then-long-comment": "class fire_engine: replace concept 2 with pool[31]  # " + "x" * TEN_MB,
    "long-quoted-name": 'class "' + "a" * TEN_MB + '": drop concept 1',
    "unterminated-name": 'class "' + "a" * TEN_MB,
    "long-word": "class fire_engine: " + "a" * TEN_MB,
    "error-at-the-end": "class fire_engine: drop edge 2->4 " + " " * TEN_MB + "$",
    "tabs-before-the-error": "class fire_engine:" + "\t" * TEN_MB + "dropp edge 2->4",
}


@pytest.mark.parametrize("line", LONG_LINES.values(), ids=LONG_LINES.keys())
def test_check_of_a_10mb_line_prints_little_and_uses_bounded_memory(tmp_path, capsys, line):
    script = tmp_path / "long.hni"
    script.write_text(line + "\n")
    load_library(LIBRARY)  # the grammar and library code are loaded before memory is measured
    parse("class fire_engine: drop edge 2->4\n")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        status = main(["check", "--library", str(LIBRARY), str(script)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert status == 1
    assert len(out) + len(err) < 10_000, (len(out), len(err))
    # The text itself is 10 MB and is held a few times over (file, parser input); never hundreds of times.
    assert peak < 20 * TEN_MB, f"peak {peak / 1e6:.0f} MB"
    assert seconds < 20, seconds
    excerpt = err.splitlines()[1]
    assert len(excerpt) <= EXCERPT_WIDTH + 10
    assert "..." in excerpt


def test_excerpt_is_a_window_around_the_column_with_ellipses():
    line = "a" * 5000 + " BAD " + "b" * 5000
    column = line.index("BAD") + 1
    d = Diagnostic("E002", "bad", 1, column, 3)
    _headline, shown, caret = d.render(line + "\n").splitlines()
    assert shown.startswith("  ...") and shown.endswith("...")
    assert len(shown) <= 2 + EXCERPT_WIDTH + 6
    assert shown[caret.index("^") :].startswith("BAD")
    assert caret.count("^") == 3


def test_short_lines_are_shown_whole_as_before():
    d = Diagnostic("E104", "m", 2, 28, 8)
    assert d.render("class fire_engine:\n    replace concept 2 with pool[31]\n").splitlines()[1:] == [
        "  replace concept 2 with pool[31]",
        "                         ^^^^^^^^",
    ]


def test_one_long_line_of_many_erroneous_statements_prints_bounded_output(tmp_path, capsys):
    # 1 MB of statements on one line, each an error: 50 diagnostics shown, each echoing a window of the line.
    # (The same at 10 MB printed 500 MB: the whole line under each of the 50.)
    statements = "; ".join(["replace concept 2 with pool[31]"] * 30_000)
    script = tmp_path / "long.hni"
    script.write_text(f"class fire_engine: {statements}\n")
    status = main(["check", "--library", str(LIBRARY), str(script)])
    out, err = capsys.readouterr()
    assert status == 1
    assert err.count(": error[") == 50 and "... and 29950 more" in err
    assert len(out) + len(err) < 25_000, len(err)
    assert max(len(line) for line in err.splitlines()) < 400
