"""The live map groups stacked incidents in the browser (assets/crisis_places.js), the server's
figure and picture in Python (crisis/layers/incidents.py ``stack``): the two must agree, or a
page would flicker between two groupings when its first figure is replaced. The same random
incidents (clusters, near ties in severity and time, the antimeridian, the poles' clamp) at
several zooms, grouped by both, in the real headless Chromium.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from crisis.layers.incidents import stack, stack_key

ASSET = Path(__file__).resolve().parents[2] / "assets" / "crisis_places.js"
ZOOMS = (0.0, 1.2, 2.5, 4.0, 6.3, 9.0)


def _incidents(rng: random.Random, n: int) -> list[dict[str, Any]]:
    centres = [(rng.uniform(-80, 80), rng.uniform(-180, 180)) for _ in range(6)] + [(0.0, 179.9), (89.0, 0.0)]
    out = []
    for i in range(n):
        lat, lon = rng.choice(centres)
        spread = rng.choice((0.001, 0.05, 0.5, 3.0))
        lon = (lon + rng.gauss(0, spread) + 180) % 360 - 180
        out.append({"incident": {
            "id": f"inc-{i:04d}", "title": f"Incident {i}", "lat": max(-89.9, min(89.9, lat + rng.gauss(0, spread))),
            "lon": lon, "severity": rng.randint(1, 5), "status": rng.choice(("active", "active", "monitoring", "closed")),
            "updated_at": f"2026-12-0{rng.randint(1, 2)}T{rng.randint(0, 23):02d}:00:00+00:00",
        }})
    return out


def test_the_browser_and_the_server_group_incidents_alike(browser: Any) -> None:
    rng = random.Random(20261202)
    cases = [_incidents(rng, n) for n in (1, 5, 40, 200)]
    page = browser.new_page()
    try:
        page.add_script_tag(path=str(ASSET))
        for messages in cases:
            in_browser = page.evaluate(
                "([ms, zooms]) => zooms.map(z => window.crisisPlaces.key(window.crisisPlaces.stack(ms, z)))",
                [messages, list(ZOOMS)])
            in_python = [stack_key(stack(messages, z)) for z in ZOOMS]
            assert in_browser == in_python
        # Not trivially equal: the sets do stack at the world's zoom and come apart zoomed in.
        big = cases[-1]
        assert stack_key(stack(big, 1.2)).count("|") < stack_key(stack(big, 9.0)).count("|")
        assert "," in stack_key(stack(big, 1.2))
    finally:
        page.close()
