"""deploy/haproxy.cfg (docker compose's "scale" profile) is the rendering of the same
template the tests' layout uses, and HAProxy itself accepts the rendered configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import layout_web


def test_compose_config_is_the_rendered_template() -> None:
    assert (ROOT / "deploy" / "haproxy.cfg").read_text() == layout_web.compose_cfg(), \
        "regenerate it: .venv/bin/python benchmarks/layout_web.py --compose-cfg > deploy/haproxy.cfg"


def test_rendering_fills_every_placeholder_and_names_each_server() -> None:
    text = layout_web.render_haproxy_cfg("127.0.0.1:1", [("web1", "127.0.0.1:2"), ("web2", "127.0.0.1:3")], "127.0.0.1:4")
    assert "@" not in text
    assert "    server web1 127.0.0.1:2 check cookie web1" in text
    assert "    server web2 127.0.0.1:3 check cookie web2" in text
    assert "cookie crisis_web insert indirect nocache" in text


def test_haproxy_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    binary = layout_web.haproxy_binary()
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("haproxy is missing: the test command installs Debian's haproxy (make haproxy)")
        pytest.skip("haproxy is not installed (make haproxy)")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(layout_web.render_haproxy_cfg("127.0.0.1:1", [("web1", "127.0.0.1:2")], "127.0.0.1:4"))
    done = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
