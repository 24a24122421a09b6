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


@pytest.mark.parametrize("text, field, fragment", [
    ("seed = 'x'\n", "seed", "valid integer"),
    ("[model]\ninput_size = 4\n", "model.input_size", "greater than or equal to 16"),
    ("[extract]\nfeature_mode = 'fast'\n", "extract.feature_mode", "'pool' or 'crop'"),
    ("[extract]\nclustres = 3\n", "extract.clustres", "Extra inputs are not permitted"),
    ("[model]\nstd = [0.2, 0.0, 0.2]\n", "model.std", "must be positive"),
])
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
