"""The partial plotly.js bundle (assets/vendor/README.md, docs/adr/009-page-load.md) is sent in
place of Dash's full one only while both are the same plotly.js version: a plotly upgrade fails
here until the bundle is rebuilt (until then the pages get the full bundle)."""

from __future__ import annotations

from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

from crisis.ui import shell


def test_the_partial_bundle_is_the_plotly_js_version_that_dash_serves() -> None:
    assert shell.PLOTLY_BUNDLE.exists()
    assert shell.plotly_bundle_version() == get_plotlyjs_version()
    assert shell._use_plotly_bundle()


def test_a_bundle_of_another_version_is_not_used(tmp_path: object) -> None:
    other = tmp_path / "plotly.min.js"  # type: ignore[operator]
    other.write_text("/**\n* plotly.js v0.0.1\n*/\n")
    assert shell.plotly_bundle_version(other) == "0.0.1"
    assert shell.plotly_bundle_version(tmp_path / "missing.js") is None  # type: ignore[operator]
