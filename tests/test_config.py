"""Configuration: the bundled file, environment overrides, and credentials kept out of files."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import DATASETS
from flows.config import ConfigError, load_settings


def test_bundled_file_configures_every_dataset_against_the_emulators() -> None:
    settings = load_settings(env={})
    assert set(settings.sources) == set(DATASETS)
    ports = set(settings.emulator_ports.values())
    for source in settings.sources.values():
        assert source.url.startswith("http://127.0.0.1:")
        assert int(source.url.rsplit(":", 1)[1]) in ports
        assert source.token is None
    assert settings.data_dir == Path("data")


def test_environment_overrides_file_and_supplies_token(tmp_path: Path) -> None:
    env = {
        "SMARTCITY_CITY_POPULATION_URL": "https://opendata.kkmuni.go.th",
        "SMARTCITY_CITY_POPULATION_PAGE_SIZE": "250",
        "SMARTCITY_CITY_POPULATION_TOKEN": "s3cret",
        "SMARTCITY_DATA_DIR": str(tmp_path),
    }
    settings = load_settings(env=env)
    source = settings.source("city.population")
    assert (source.url, source.page_size, source.token) == (
        "https://opendata.kkmuni.go.th",
        250,
        "s3cret",
    )
    assert settings.source("city.population", url="http://other").url == "http://other"
    assert settings.data_dir == tmp_path


def test_token_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[datasets."city.solar"]\nurl = "http://x"\ntoken = "abc"\n')
    with pytest.raises(ConfigError, match="SMARTCITY_CITY_SOLAR_TOKEN"):
        load_settings(config, env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[datasets."city.nope"]\nurl = "http://x"\n', "unknown dataset"),
        ('[datasets."city.solar"]\nurl = "http://x"\npagesize = 3\n', "unknown setting"),
        ('[datasets."city.solar"]\nurl = "http://x"\npage_size = "many"\n', "city.solar"),
        ("[defaults\n", "cannot read configuration"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env={"SMARTCITY_CITY_POPULATION_URL": "http://x"})


def test_dataset_without_url_is_named_when_used(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[defaults]\npage_size = 10\n[datasets."city.solar"]\nurl = "http://x"\n')
    settings = load_settings(config, env={})
    assert settings.source("city.solar").page_size == 10
    with pytest.raises(ConfigError, match=r"city\.population has no url"):
        settings.source("city.population")
