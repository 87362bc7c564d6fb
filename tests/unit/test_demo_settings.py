"""What `crisis demo` polls when no feed is configured."""

from __future__ import annotations

from pathlib import Path

from crisis.cli import DEMO_USGS_MIN_MAGNITUDE, _demo_feeds, _feed_banner
from crisis.config import Settings


def test_demo_polls_the_bundled_samples_and_skips_small_earthquakes(tmp_path: Path) -> None:
    demo = _demo_feeds(Settings(data_dir=tmp_path))
    assert demo.gdacs_url is not None and Path(demo.gdacs_url).is_file()
    assert demo.usgs_url is not None and Path(demo.usgs_url).is_file()
    assert demo.usgs_min_magnitude == DEMO_USGS_MIN_MAGNITUDE
    assert any("under magnitude 4 skipped" in line for line in _feed_banner(demo))


def test_configured_feeds_and_thresholds_are_kept(tmp_path: Path) -> None:
    mine = Settings(data_dir=tmp_path, usgs_url="https://example.org/quakes.geojson", usgs_min_magnitude=2.5)
    demo = _demo_feeds(mine)
    assert demo.usgs_url == "https://example.org/quakes.geojson" and demo.usgs_min_magnitude == 2.5
    everything = _demo_feeds(Settings(data_dir=tmp_path, usgs_min_magnitude=0.0))
    assert everything.usgs_min_magnitude == 0.0
