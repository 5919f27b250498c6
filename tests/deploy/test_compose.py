"""The production compose file stays valid and pinned."""

import subprocess
from pathlib import Path

import pytest

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"


@pytest.mark.integration
def test_docker_compose_config_validates() -> None:
    result = subprocess.run(
        [str(COMPOSE_DIR / "validate")], capture_output=True, text=True, timeout=1200, check=False
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_every_image_is_pinned_to_a_version() -> None:
    text = (COMPOSE_DIR / "docker-compose.yml").read_text()
    images = [line.split("image:", 1)[1].strip() for line in text.splitlines() if "image:" in line]
    assert images, "no images found"
    for image in images:
        name, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{image} is not pinned"
        assert any(ch.isdigit() for ch in tag), f"{image} has no version tag"
