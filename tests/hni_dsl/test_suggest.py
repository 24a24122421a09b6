"""The one "did you mean" helper, in the quoting styles its callers use."""

from __future__ import annotations

from hni_dsl.suggest import did_you_mean


def test_backticks_by_default_as_in_the_languages_diagnostics():
    assert did_you_mean("replce", ["add", "drop", "replace"]) == "; did you mean `replace`?"


def test_repr_quoting_and_several_choices_joined():
    hint = did_you_mean("layr4", ["layer4", "layer4.0", "layer1", "fc"], n=3, cutoff=0.5, quote=repr)
    assert hint == "; did you mean 'layer4', 'layer4.0', 'layer1'?"


def test_nothing_close_or_nothing_to_choose_from_gives_no_hint():
    assert did_you_mean("submarine", ["tank", "zebra"]) == ""
    assert did_you_mean("tank", []) == ""


def test_cutoff_zero_always_names_the_closest():
    assert did_you_mean("FIRE-ENGINE", ["fire_engine"]) == ""
    assert did_you_mean("FIRE-ENGINE", ["fire_engine"], cutoff=0) == "; did you mean `fire_engine`?"


def test_an_unknown_class_spelt_another_way_is_suggested(example_library):
    from hni_dsl import check, parse

    (diagnostic,) = check(parse('class "FIRE-ENGINE": drop edges *'), example_library).diagnostics
    assert diagnostic.message == "unknown class `FIRE-ENGINE`; did you mean `fire_engine`?"
