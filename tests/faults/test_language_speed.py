"""Checking costs time in proportion to the script and its errors, never to their square."""

from __future__ import annotations

import time

from hni_dsl import Diagnostic, check, parse
from hni_dsl.errors import render_diagnostics

N = 20_000
ERROR_LINE = "class fire_engine: replace concept 2 with pool[31]"


def test_check_of_20000_erroneous_blocks_is_linear(example_library):
    (block,) = parse(ERROR_LINE + "\n").statements
    script = parse("").model_copy(update={"statements": (block,) * N})
    started = time.perf_counter()
    result = check(script, example_library, "s.hni")
    seconds = time.perf_counter() - started
    assert len(result.errors) == N
    # About 0.3 s here; counting every earlier diagnostic again for each block took minutes.
    assert seconds < 4, seconds


def test_rendering_every_one_of_20000_diagnostics_is_linear():
    source = "\n".join([ERROR_LINE] * N) + "\n"
    diagnostics = [
        Diagnostic("E104", "pool index 31 is out of range", line, 43, 8, file="s.hni") for line in range(N, 0, -1)
    ]
    started = time.perf_counter()
    text = render_diagnostics(diagnostics, {"s.hni": source}, limit=N)
    seconds = time.perf_counter() - started
    assert text.count("\n") == 3 * N - 1
    assert text.splitlines()[0].startswith("s.hni:1:43:")
    # About 0.2 s here; splitting the whole source again for each diagnostic took minutes.
    assert seconds < 4, seconds


def test_a_block_of_20000_conflicting_additions_is_linear(example_library):
    script = parse("class fire_engine: " + "; ".join(["add concept pool[9]"] * N) + "\n")
    started = time.perf_counter()
    result = check(script, example_library, "s.hni")
    seconds = time.perf_counter() - started
    assert len(result.errors) == N
    assert seconds < 4, seconds
