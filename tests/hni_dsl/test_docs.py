"""The examples in the language's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hni_dsl

MODULES = ["hni_dsl"] + sorted(f"hni_dsl.{m.name}" for m in pkgutil.iter_modules(hni_dsl.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
