"""Where the shared real-world feed samples live (``/work/shared/testdata``).

The samples sit next to the repository, not in it (see their README for sources and
licences). Set ``CRISIS_TESTDATA`` to use another copy, e.g. on a CI runner.

(Names avoid the "test" prefix: pytest would collect imported ``test*`` functions.)
"""

from __future__ import annotations

import os
from pathlib import Path


def samples_dir() -> Path:
    override = os.environ.get("CRISIS_TESTDATA")
    # tests/testdata.py -> parents[1] is the repository, whose parent holds shared/
    default = Path(__file__).resolve().parents[2] / "shared" / "testdata"
    root = Path(override) if override else default
    if not root.is_dir():
        raise FileNotFoundError(
            f"feed samples not found at {root}; set CRISIS_TESTDATA to the testdata folder"
        )
    return root


def sample_path(*parts: str) -> Path:
    return samples_dir().joinpath(*parts)


def read_sample(*parts: str) -> bytes:
    return sample_path(*parts).read_bytes()
