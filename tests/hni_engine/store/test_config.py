"""hni.toml: defaults, round trip, errors that name the file and field."""

from __future__ import annotations

import pytest

from hni_engine.store.config import ConfigError, HniConfig, dump_config, load_config, write_config


def test_round_trip(tmp_path):
    config = HniConfig(seed=3, classes=("a", "b"))
    write_config(config, tmp_path / "hni.toml")
    assert load_config(tmp_path / "hni.toml") == config


def test_section_keys_change_only_with_their_section():
    base = HniConfig()
    other_grn = base.model_copy(update={"grn": base.grn.model_copy(update={"epochs": 5})})
    assert base.extract.key() == other_grn.extract.key()
    assert base.grn.key() != other_grn.grn.key()


@pytest.mark.parametrize(
    "text, field, fragment",
    [
        ("seed = 'x'\n", "seed", "valid integer"),
        ("[model]\ninput_size = 4\n", "model.input_size", "greater than or equal to 16"),
        ("[extract]\nfeature_mode = 'fast'\n", "extract.feature_mode", "'pool' or 'crop'"),
        ("[extract]\nclustres = 3\n", "extract.clustres", "Extra inputs are not permitted"),
        ("[model]\nstd = [0.2, 0.0, 0.2]\n", "model.std", "must be positive"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path, text, field, fragment):
    path = tmp_path / "hni.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == field
    assert str(info.value).startswith(f"{path}: field {field!r}: ")
    assert fragment in str(info.value)


def test_not_toml_and_missing(tmp_path):
    path = tmp_path / "hni.toml"
    path.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_dump_is_readable_toml():
    text = dump_config(HniConfig())
    assert "[extract.segment]" in text and 'feature_mode = "pool"' in text


def test_written_config_describes_its_fields_and_reads_back(tmp_path):
    """Each described field is preceded by its description (as comment lines); the text reads back equal."""
    from hni_engine.store.config import ExtractConfig

    config = HniConfig(seed=3, extract=ExtractConfig(concept_region="image", mimic_turns=2))
    path = tmp_path / "hni.toml"
    write_config(config, path)
    lines = path.read_text().splitlines()
    at = lines.index('concept_region = "image"')
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith("# "):
            break
        above.insert(0, line[2:])
    assert " ".join(above) == ExtractConfig.model_fields["concept_region"].description
    assert load_config(path) == config


# -- every key is described -----------------------------------------------------------------------


def described_fields(model=None, prefix=""):
    """(dotted key, description) of every field of hni.toml, sections and their fields alike."""
    from pydantic import BaseModel

    model = model or HniConfig
    for name, info in model.model_fields.items():
        yield prefix + name, info.description
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from described_fields(info.annotation, f"{prefix}{name}.")


def test_every_field_has_a_one_line_description():
    fields = dict(described_fields())
    assert "extract.segment.sigma" in fields and "distill.erase_removed" in fields
    for key, description in fields.items():
        assert description and description.strip(), f"{key} has no description"
        assert "\n" not in description, f"{key}: description is not one line"
        assert len(description) < 110, f"{key}: description has {len(description)} characters"


def test_written_config_has_one_comment_line_per_key():
    lines = dump_config(HniConfig()).splitlines()
    for at, line in enumerate(lines):
        if line and not line.startswith(("#", "[")):
            assert lines[at - 1].startswith("# ") and not lines[at - 2].startswith("# "), line


def test_erase_description_says_noise():
    from hni_engine.store.config import DistillConfig

    description = DistillConfig.model_fields["erase_removed"].description
    assert "noise" in description and "mean colour" not in description


# -- the effective configuration ------------------------------------------------------------------


def test_effective_settings_mark_what_the_file_sets(tmp_path):
    from hni_engine.store.config import effective_settings

    path = tmp_path / "hni.toml"
    path.write_text("seed = 7\n[extract]\nclusters = 12\n")
    settings = effective_settings(path)
    by_key = {s.key: s for s in settings}
    assert len(by_key) == len(settings) == len([k for k, _ in described_fields() if k not in SECTIONS])
    assert {s.key for s in settings if s.source == "file"} == {"seed", "extract.clusters"}
    assert all(s.source == "default" for s in settings if s.key not in ("seed", "extract.clusters"))
    assert by_key["seed"].value == 7 and by_key["extract.clusters"].value == 12
    assert by_key["extract.segment.n_segments"].value == [15, 50, 80]
    assert by_key["extract.segment.n_segments"].text == "[15, 50, 80]"
    assert by_key["extract.feature_mode"].text == '"pool"'
    assert by_key["extract.clusters"].description == "k-means clusters per class: the candidate concepts"
    # the values are the loaded config's, key by key
    config = load_config(path)
    for s in settings:
        value = config
        for part in s.key.split("."):
            value = getattr(value, part)
        assert s.value == (list(value) if isinstance(value, tuple) else value), s.key


SECTIONS = {"model", "data", "train", "extract", "extract.segment", "grn", "distill", "compute"}


def test_settings_follow_the_written_order():
    from hni_engine.store.config import settings

    keys = [s.key for s in settings(HniConfig(), {})]
    assert keys[:3] == ["format", "seed", "classes"]
    assert keys.index("extract.mimic_turns") < keys.index("extract.segment.n_segments") < keys.index("grn.epochs")


def test_a_key_set_to_its_default_value_still_comes_from_the_file(tmp_path):
    from hni_engine.store.config import effective_settings

    path = tmp_path / "hni.toml"
    write_config(HniConfig(), path)
    assert {s.source for s in effective_settings(path)} == {"file"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[model\n", "not valid TOML"),
        ("[extract]\nclusters = 1\n", "field 'extract.clusters'"),
        ("[extract]\nclustres = 3\n", "field 'extract.clustres'"),
    ],
)
def test_effective_settings_of_a_bad_file_name_it(tmp_path, text, fragment):
    from hni_engine.store.config import effective_settings

    path = tmp_path / "hni.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        effective_settings(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)
    with pytest.raises(ConfigError, match="no such file"):
        effective_settings(tmp_path / "absent.toml")
