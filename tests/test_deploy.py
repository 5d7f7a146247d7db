"""The production compose file references real images, the repo's configs, and no literal secrets."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_services_images_healthchecks_and_mounts() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect-server", "qdrant", "docmill-worker"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
    for name in ("postgres", "prefect-server", "qdrant"):
        assert "test" in services[name]["healthcheck"], name
    assert services["prefect-server"]["image"].startswith("prefecthq/prefect:3.8.8")
    worker = services["docmill-worker"]
    assert (ROOT / worker["build"]["dockerfile"]).exists()
    mounts = [v.split(":")[0] for v in worker["volumes"]]
    assert "./configs" in mounts and (ROOT / "configs" / "docmill.yaml").exists()
    for source in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        if source.startswith("./deploy"):
            assert (ROOT / source).exists(), source


def test_no_literal_secrets_in_compose() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        match = re.search(r"(PASSWORD|API_KEY|SECRET)[A-Z_]*:\s*(\S+)", line)
        if match:
            assert match.group(2).startswith("${") or match.group(2).startswith('"${'), line


def test_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    import json

    import jsonschema

    schema = json.loads((ROOT / "tests" / "fixtures" / "compose_spec.json").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jsonschema.validate(compose, schema)  # raises naming the offending key
    broken = {**compose, "services": {**compose["services"], "qdrant": {**compose["services"]["qdrant"], "portz": 1}}}
    with pytest.raises(jsonschema.ValidationError, match="portz"):
        jsonschema.validate(broken, schema)


def test_docker_compose_itself_accepts_the_file(tmp_path: Path) -> None:
    """Debian's docker-compose 1.29 validates a compose file without an engine (installed by scripts/install.sh)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (scripts/install.sh installs it as root)")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")  # what an operator does first
    env = {k: v for k, v in os.environ.items() if k not in {"POSTGRES_PASSWORD", "QDRANT_API_KEY"}}
    compose = [binary, "-f", str(tmp_path / "docker-compose.yml")]
    done = subprocess.run([*compose, "config", "-q"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    services = subprocess.run(
        [*compose, "config", "--services"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"postgres", "prefect-server", "qdrant", "docmill-worker"} <= set(services)


def test_worker_image_runs_docmill_on_the_work_pool() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["docmill-worker"]
    command = " ".join(worker["command"]) if isinstance(worker["command"], list) else worker["command"]
    assert "docmill deploy" in command and "prefect worker start --pool docmill" in command
    assert ".env" in str(worker.get("env_file", ""))
    init = (ROOT / "deploy" / "postgres-init.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in init
