"""The production compose file references real images, the repo's configs, and no literal secrets."""

import re
from pathlib import Path

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
