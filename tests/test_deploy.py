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


def _compose(tmp_path: Path, dotenv: str, *args: str) -> subprocess.CompletedProcess[str]:
    """docker-compose on a copy of the compose file with `dotenv` as its .env (no secrets from this process)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (scripts/install.sh installs it as root)")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(dotenv)
    secrets = {"POSTGRES_PASSWORD", "QDRANT_API_KEY", "PREFECT_SERVER_API_AUTH_STRING", "DOCMILL_PUBLISH_HOST"}
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    command = [binary, "-f", str(tmp_path / "docker-compose.yml"), "config", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)


FILLED = "POSTGRES_PASSWORD=pg-7Qe\nQDRANT_API_KEY=qd-9Xw\nPREFECT_SERVER_API_AUTH_STRING=ops:pf-4Lm\n"


def test_docker_compose_refuses_the_example_env_and_accepts_a_filled_one(tmp_path: Path) -> None:
    """Debian's docker-compose 1.29 validates a compose file without an engine (installed by scripts/install.sh).
    Copied as is, .env.example must not start anything (its secrets are empty); filled in, the file is valid."""
    refused = _compose(tmp_path, (ROOT / ".env.example").read_text(), "-q")
    assert refused.returncode == 1 and "in .env" in refused.stderr, refused.stderr
    for name in ("POSTGRES_PASSWORD", "QDRANT_API_KEY", "PREFECT_SERVER_API_AUTH_STRING"):
        missing = _compose(tmp_path, "\n".join(line for line in FILLED.splitlines() if name not in line), "-q")
        assert missing.returncode == 1 and name in missing.stderr, (name, missing.stderr)
    assert _compose(tmp_path, FILLED, "-q").returncode == 0
    services = _compose(tmp_path, FILLED, "--services").stdout.split()
    assert {"postgres", "prefect-server", "qdrant", "docmill-worker"} <= set(services)


def test_prefect_api_requires_auth_and_nothing_is_published_on_every_interface(tmp_path: Path) -> None:
    done = _compose(tmp_path, FILLED)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["prefect-server"]["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == "ops:pf-4Lm"
    assert services["docmill-worker"]["environment"]["PREFECT_API_AUTH_STRING"] == "ops:pf-4Lm"
    published = {name: s.get("ports", []) for name, s in services.items()}
    assert not published["postgres"] and not published["docmill-worker"]
    for name, ports in published.items():
        for port in ports:
            host = port.split(":")[0] if isinstance(port, str) else port.get("host_ip")
            assert host == "127.0.0.1", (name, port)
    command = " ".join(services["docmill-worker"]["command"])
    assert "docmill deploy --config /app/configs/docmill.yaml" in command
    assert services["docmill-worker"]["environment"]["DOCMILL_INGEST__ALLOWED_ROOTS"] == '["/inbox"]'


def test_worker_image_runs_as_an_unprivileged_user() -> None:
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users and users[-1] not in {"root", "0"}, users
    cmd = next(i for i, words in enumerate(lines) if words[0] == "CMD")
    assert next(i for i, words in enumerate(lines) if words[0] == "USER") < cmd


def test_worker_image_runs_docmill_on_the_work_pool() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["docmill-worker"]
    command = " ".join(worker["command"]) if isinstance(worker["command"], list) else worker["command"]
    assert "docmill deploy" in command and "prefect worker start --pool docmill" in command
    assert ".env" in str(worker.get("env_file", ""))
    init = (ROOT / "deploy" / "postgres-init.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in init
