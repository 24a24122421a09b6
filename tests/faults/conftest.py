"""Fault tests print no progress bars: their output is what they check."""

from __future__ import annotations

import pytest

from hni_engine.progress import set_quiet


@pytest.fixture(autouse=True)
def _quiet():
    set_quiet(True)
    yield
    set_quiet(False)
