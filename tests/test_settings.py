from pathlib import Path

import pytest
from pydantic import ValidationError

from docmill.config.doc import render
from docmill.config.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_loads_and_matches_defaults_where_it_says_so() -> None:
    settings = load_settings(ROOT / "configs" / "docmill.yaml")
    assert settings.pipeline.batch_size == Settings().pipeline.batch_size
    assert settings.embed.qdrant_url is None and settings.chunk.max_tokens is None
    assert settings.enrich.rules[0].department == "finance"


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c.yaml").write_text("embed:\n  batch_size: 16\nvalidate:\n  max_reject_rate: 0.2\n")
    assert load_settings(tmp_path / "c.yaml").embed.batch_size == 16
    monkeypatch.setenv("DOCMILL_EMBED__BATCH_SIZE", "8")
    settings = load_settings(tmp_path / "c.yaml")
    assert settings.embed.batch_size == 8 and settings.validate_.max_reject_rate == 0.2


def test_unknown_keys_and_bad_values_are_errors(tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text("embed:\n  batchsize: 16\n")
    with pytest.raises(ValidationError, match="batchsize"):
        load_settings(tmp_path / "typo.yaml")
    (tmp_path / "bad.yaml").write_text("pipeline:\n  batch_size: 0\n")
    with pytest.raises(ValidationError, match="batch_size"):
        load_settings(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.yaml")


def test_every_setting_is_described_in_the_generated_reference() -> None:
    for section in Settings.model_fields.values():
        for name, field in section.annotation.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{name} has no description"
    text = render()
    assert "| `batch_size` |" in text and "## `validate`" in text
    assert text == (ROOT / "docs" / "configuration.md").read_text(), "regenerate: docmill config-doc"


def test_operations_time_zone_must_exist() -> None:
    from docmill.config.settings import OperationsConfig

    assert OperationsConfig(timezone="Europe/Berlin").timezone == "Europe/Berlin"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        OperationsConfig(timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("pipeline", "ahead"),
    [
        ({}, 3),  # defaults: 4 threads, 3 batches ahead
        ({"threads": 2}, 1),  # one slot stays for the embedding
        ({"threads": 8, "prepare_ahead": 5}, 5),
        ({"task_runner": "dask"}, 1),  # a local cluster of 2 workers
        ({"task_runner": "dask", "dask_workers": 3}, 2),
        ({"task_runner": "dask", "dask_address": "tcp://scheduler:8786", "prepare_ahead": 4}, 4),
    ],
)
def test_batches_prepared_ahead_leave_a_runner_slot_for_the_embedding(pipeline: dict, ahead: int) -> None:
    assert Settings.model_validate({"pipeline": pipeline}).pipeline.ahead() == ahead
