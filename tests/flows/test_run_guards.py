"""What a run refuses before it writes anything, and where its DVC remote goes, through the real flow: a data
folder inside a source folder, credentials in URL settings, run-parameter sources outside the configured
roots (what the Prefect API lets anyone with access send)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from docmill.run.params import PipelineParams

pytestmark = pytest.mark.e2e
TEXT = "Safety briefing: the evacuation assembly point moved to the east car park.\n"


def _config(tmp_path: Path, **sections: Any) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "briefing.txt").write_text(TEXT)
    config: dict[str, Any] = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(inbox)]},
        "version": {"dataset_name": "guards"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    (tmp_path / "docmill.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "docmill.yaml"


def _run(**params: Any) -> dict[str, Any]:
    from flows.pipeline import pipeline

    return pipeline(params=PipelineParams(**params))


def test_data_dir_inside_a_source_is_refused_at_start(prefect_api: str, tmp_path: Path) -> None:
    config = _config(tmp_path, paths={"data_dir": str(tmp_path / "inbox" / "docmill-data")})
    with pytest.raises(ValueError, match="lies inside the source folder"):
        _run(config_path=str(config))
    assert not (tmp_path / "inbox" / "docmill-data").exists()


@pytest.mark.parametrize("key", ["remote_url", "remote_endpoint_url"])
def test_credentials_in_a_remote_url_are_refused(prefect_api: str, tmp_path: Path, key: str) -> None:
    url = {"remote_url": "s3://bucket/prefix"} if key == "remote_endpoint_url" else {}
    config = _config(tmp_path, version={**url, key: "https://backup:Hunter2-Secret@store.example:9000/dvc"})
    with pytest.raises(ValueError, match="must not contain credentials"):
        _run(config_path=str(config))
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and "Hunter2-Secret" in p.read_text(errors="ignore")]
    assert leaked == [tmp_path / "docmill.yaml"]


def test_run_sources_are_limited_to_configured_roots_and_the_remote_follows_the_data_dir(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's `sources` may name a folder below a configured source or `ingest.allowed_roots`, nothing else;
    with no `remote_url` the DVC remote is `<data_dir>/dvc-remote`, whatever the working folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.txt").write_text("Not configured for ingestion: personnel files.\n")
    allowed = tmp_path / "drop"
    (allowed / "team").mkdir(parents=True)
    (allowed / "team" / "note.txt").write_text(TEXT.replace("east", "west"))
    for refused, config in ((elsewhere, _config(tmp_path)), (allowed / "team", _config(tmp_path))):
        with pytest.raises(ValueError, match="neither configured connectors nor folders"):
            _run(config_path=str(config), sources=[str(refused)])
    assert not (tmp_path / "data" / "catalog.sqlite").exists()
    config = _config(tmp_path, ingest={"allowed_roots": [str(allowed)]})
    with pytest.raises(ValueError, match="neither configured connectors nor folders"):
        _run(config_path=str(config), sources=[str(elsewhere)])
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    summary = _run(config_path=str(config), sources=[str(allowed / "team")])
    assert summary["documents"]["embedded"] == 1
    data = tmp_path / "data"
    remote = subprocess.run(
        ["git", "-C", str(data / "datasets"), "show", "HEAD:.dvc/config"], capture_output=True, text=True, check=True
    ).stdout
    assert f"url = {data / 'dvc-remote'}" in remote, remote
    assert any((data / "dvc-remote").rglob("*")) and not (workdir / "data").exists()


def test_a_deployment_run_without_config_in_its_params_reads_the_deployments_config(
    prefect_api: str, tmp_path: Path
) -> None:
    """A run created through the API with its own `params` (no `config_path`) gets the deployment's config
    from the server-side merge of parameters, not the project's default config and data folder."""
    from prefect.client.orchestration import get_client

    from docmill.config.settings import load_settings
    from flows import deployments
    from flows.pipeline import pipeline

    config = _config(tmp_path)
    (deployment,) = deployments.build(load_settings(config), config, deployments.DEPLOYMENTS[:1])
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            deployment_id, parameters={"params": {"sources": [str(tmp_path / "inbox")], "dry_run": True}}
        )
        client.delete_flow_run(run.id)  # nothing serves this deployment: run the flow here, as a worker would
    summary = pipeline(**run.parameters)
    assert summary["dry_run"] and summary["data_dir"] == str(tmp_path / "data")
    assert summary["counts"]["new"] == 1


def test_a_run_cannot_read_a_config_outside_the_config_roots(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DOCMILL_CONFIG_ROOTS (set by docker-compose), a config an API user planted in a source folder,
    naming its own sources and data folder, is refused; the worker's own configs still run."""
    config = _config(tmp_path)
    planted = tmp_path / "inbox" / "planted.yaml"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "keys.txt").write_text("not for ingestion\n")
    planted.write_text(
        yaml.safe_dump(
            {"paths": {"data_dir": str(tmp_path / "stolen")}, "ingest": {"sources": [str(tmp_path / "secrets")]}}
        )
    )
    monkeypatch.setenv("DOCMILL_CONFIG_ROOTS", str(tmp_path / "configs"))
    with pytest.raises(ValueError, match="outside DOCMILL_CONFIG_ROOTS"):
        _run(config_path=str(planted), dry_run=True)
    assert not (tmp_path / "stolen").exists()
    (tmp_path / "configs").mkdir()
    allowed = config.rename(tmp_path / "configs" / "docmill.yaml")
    planted.unlink()
    assert _run(config_path=str(allowed), dry_run=True)["counts"]["new"] == 1
