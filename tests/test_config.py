"""Configuration: the shipped file validates, errors name the key path, keys are documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mixer_core.config import DEFAULT_CONFIG_PATH, ConfigError, config_docs, load_config


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _shipped() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def test_shipped_config_is_valid() -> None:
    cfg = load_config()
    assert cfg.data.split.train + cfg.data.split.val + cfg.data.split.test == pytest.approx(1.0)
    assert cfg.augmentation.tools["change_volume"].params["db"] == (-12.0, 12.0)


@pytest.mark.parametrize(
    ("edit", "key_path"),
    [
        (lambda d: d["default"].update(batch_sise=4), "default.batch_sise"),
        (lambda d: d["data"].update(sample_rate=100), "data.sample_rate"),
        (lambda d: d["default"].update(mixed_precision="fp8"), "default.mixed_precision"),
        (lambda d: d["data"]["split"].update(train=0.5), "data.split"),
        (lambda d: d["mixer"]["lora"].update(r=0), "mixer.lora.r"),
        (lambda d: d["augmentation"]["chain_length"].update(min=3, max=1), "chain_length"),
        (lambda d: d["augmentation"]["tools"].update(warp={"probability": 1}), "tools.warp"),
        (
            lambda d: d["augmentation"]["tools"]["change_volume"].update(params={"db": [-30, 0]}),
            "tools.change_volume.params.db",
        ),
        (
            lambda d: d["augmentation"]["tools"]["apply_eq"].update(params={"gain": [0, 1]}),
            "tools.apply_eq.params.gain",
        ),
    ],
)
def test_bad_config_names_the_file_and_key_path(tmp_path: Path, edit, key_path: str) -> None:
    data = _shipped()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert key_path in str(info.value)


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("default: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_overrides_merge_into_sections() -> None:
    cfg = load_config(overrides={"default": {"num_epochs": 7}})
    assert cfg.default.num_epochs == 7
    assert cfg.default.batch_size == load_config().default.batch_size


def _flat_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        keys.add(path)
        free_form = key in ("small", "tools")  # component kwargs / per-tool tables
        if isinstance(value, dict) and not free_form:
            keys |= _flat_keys(value, path + ".")
    return keys


def test_every_schema_key_is_described_and_present_in_the_shipped_file() -> None:
    documented = {key for key, _default, description in config_docs() if description}
    schema_keys = {key for key, _default, _description in config_docs()}
    assert schema_keys == documented, "every key needs a description"
    assert _flat_keys(_shipped()) == schema_keys
