"""``crisis ingest roster PATH`` in a real subprocess, on the test session's embedded Redis
(found through the data directory, as ``crisis`` finds a running server's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crisis.adapters import keys
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "roster"
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]


def crisis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    env = {**clean, "CRISIS_DATA_DIR": str(settings.data_dir), "CRISIS_FEEDS": "0"}
    return subprocess.run([*CRISIS, *args], check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _dead_letters(context: Context) -> list[dict[str, str]]:
    return [f for _, f in context.redis.xrange(keys.DEADLETTER_STREAM) if f.get("feed") == "roster"]


def test_ingest_roster_prints_the_summary_and_each_rejected_row(context: Context, settings: Settings, tmp_path: Path) -> None:
    result = crisis(settings, "ingest", "roster", str(SAMPLES / "officers.csv"))
    assert result.returncode == 1, result.stderr
    assert "roster officers (CSV): 5 accepted, 0 updated, 5 rejected" in result.stdout
    assert "rejected row 6 skills: unknown skill 'juggling'" in result.stderr
    assert "rejected row 7 languages:" in result.stderr and "rejected row 9 region: unknown region 'mars'" in result.stderr
    assert "rejected row 8 home_lat:" in result.stderr and "rejected row 10 id:" in result.stderr
    assert "validating" in result.stderr  # the progress bar
    assert len(_dead_letters(context)) == 5
    stored = json.loads(context.redis.hget(keys.OFFICERS, "FSO-001"))
    assert stored["languages"] == ["ar", "fr", "en"] and stored["home"]["country"] == "JOR"
    assert context.redis.hlen(keys.OFFICERS) == 5

    json_result = crisis(settings, "ingest", "roster", str(SAMPLES / "officers.json"))
    assert json_result.returncode == 1 and "3 accepted, 0 updated, 4 rejected" in json_result.stdout

    good = tmp_path / "officers.json"
    good.write_text(json.dumps([{"id": f"P{i}", "name": "N", "home": {"name": "Amman", "lat": 31.95, "lon": 35.93},
                                 "region": "middle_east_north_africa", "skills": ["first_aid"], "languages": ["ar"]}
                                for i in range(1200)]))
    first = crisis(settings, "ingest", "roster", str(good))
    assert first.returncode == 0, first.stderr
    assert "1200 accepted, 0 updated, 0 rejected" in first.stdout
    again = crisis(settings, "ingest", "roster", str(good))
    assert again.returncode == 0 and "0 accepted, 1200 updated" in again.stdout
    assert context.redis.hlen(keys.OFFICERS) == 1208

    imports = context.audit.query(AuditQuery(action="roster.officers_import", limit=10))
    assert [e["after"] for e in imports][:2] == [{"accepted": 0, "updated": 1200, "rejected": 0},
                                                {"accepted": 1200, "updated": 0, "rejected": 0}]
    assert all(e["via"] == "cli" and e["detail"]["location"] == str(good) for e in imports[:2])

    broken = tmp_path / "broken.csv"
    broken.write_text("id,name,colour\nX,Y,red\n")
    refused = crisis(settings, "ingest", "roster", str(broken))
    assert refused.returncode == 1 and "unknown column 'colour'" in refused.stderr and "dead letter" in refused.stderr
    missing = crisis(settings, "ingest", "roster", str(tmp_path / "nothing.json"))
    assert missing.returncode != 0 and "not a file" in missing.stderr
    assert "warning" not in first.stderr  # no country given: nothing to check
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps([{"id": "P0", "name": "Nadia", "home": {"name": "Amman", "lat": 35.93, "lon": 31.95, "country": "JOR"},
                                    "region": "middle_east_north_africa", "skills": ["first_aid"], "languages": ["ar"]}]))
    warned = crisis(settings, "ingest", "roster", str(swapped))
    assert warned.returncode == 0 and "0 accepted, 1 updated, 0 rejected" in warned.stdout  # stored
    assert "warning row 1 home: Nadia's home (35.93, 31.95) lies in Türkiye (TUR)" in warned.stderr, warned.stderr
