"""The production compose file stays valid and pinned."""

import os
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


def test_validate_rebuilds_a_cut_short_plugin_and_names_the_build_log(tmp_path: Path) -> None:
    """A compose plugin left truncated in the cache is not run; a failed build names its log."""
    plugin = tmp_path / "cache" / "compose" / "bin" / "docker-compose-v2.40.3"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"\x7fELF cut short")
    plugin.chmod(0o755)
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "docker").write_text("#!/bin/sh\nexit 1\n")  # no compose plugin installed
    (stub / "docker").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{stub}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "VIGIL_CACHE_DIR": str(tmp_path / "cache"),
        "GOPROXY": "off",  # the rebuild fails at once, without the network
        "GOFLAGS": "-modcacherw",
        "GOMODCACHE": str(tmp_path / "gomod"),
    }
    result = subprocess.run(
        [str(COMPOSE_DIR / "validate")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    log = tmp_path / "cache" / "compose" / "build.log"
    assert f"building docker compose v2.40.3 failed; see {log}" in result.stderr, result.stderr
    assert not plugin.exists(), "the truncated plugin must not be kept"
    assert not (tmp_path / "home" / ".docker").exists(), "nothing linked to a broken plugin"
