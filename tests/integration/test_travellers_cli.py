"""``crisis ingest travellers PATH`` in a real subprocess, on the test session's embedded
Redis (found through the data directory, as ``crisis`` finds a running server's)."""

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
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
HEADER = "id,name,agency,category,essential,duty_station_name,duty_station_lat,duty_station_lon,from,to,depart,arrive"


def crisis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    env = {**clean, "CRISIS_DATA_DIR": str(settings.data_dir), "CRISIS_FEEDS": "0"}
    return subprocess.run([*CRISIS, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_ingest_travellers_prints_the_summary_and_each_rejected_row(context: Context, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("\n".join([
        HEADER,
        "C1,Amal,UNDP,consultant,yes,Beirut,33.89,35.5,BEY,AMM,2026-05-01T09:00:00+03:00,2026-05-01T10:00:00+03:00",
        "C2,Omar,UNDP,tourist,no,Beirut,33.89,35.5,,,,",
        "C3,Rana,UNDP,visitor,no,Beirut,33.89,35.5,BEY,AMM,2026-05-01T09:00:00,2026-05-01T10:00:00+03:00",
    ]) + "\n")
    result = crisis(settings, "ingest", "travellers", str(path))
    assert result.returncode == 1, result.stderr
    assert "1 accepted, 0 updated, 2 rejected" in result.stdout
    assert "rejected row 2 category: unknown category 'tourist'" in result.stderr
    assert "rejected row 3 depart:" in result.stderr and "dead letter" in result.stderr
    assert json.loads(context.redis.hget(keys.TRAVELLERS, "C1"))["category"] == "consultant"
    assert context.redis.hlen(keys.TRAVELLERS) == 1

    good = tmp_path / "export.json"
    good.write_text(json.dumps([{"id": f"J{i}", "name": "N", "agency": "A", "category": "visitor"} for i in range(1200)]))
    first = crisis(settings, "ingest", "travellers", str(good))
    assert first.returncode == 0, first.stderr
    assert "1200 accepted, 0 updated, 0 rejected" in first.stdout
    again = crisis(settings, "ingest", "travellers", str(good))
    assert again.returncode == 0 and "0 accepted, 1200 updated" in again.stdout
    assert context.redis.hlen(keys.TRAVELLERS) == 1201

    # Each import from the command line is in the audit trail, with who ran it and the counts.
    imports = context.audit.query(AuditQuery(action="travellers.import", limit=10))
    assert [e["after"] for e in imports][:2] == [{"accepted": 0, "updated": 1200, "rejected": 0},
                                                {"accepted": 1200, "updated": 0, "rejected": 0}]
    assert all(e["via"] == "cli" and e["actor"] and e["detail"]["location"] == str(good) for e in imports[:2])

    missing = crisis(settings, "ingest", "travellers", str(tmp_path / "nothing.json"))
    assert missing.returncode != 0 and "not a file" in missing.stderr
