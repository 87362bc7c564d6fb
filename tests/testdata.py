"""Where the real-world feed samples live: ``tests/samples`` (copied unmodified from the
project's shared testdata; see its README for sources and licences). Set
``CRISIS_TESTDATA`` to use another copy.

(Names avoid the "test" prefix: pytest would collect imported ``test*`` functions.)
"""

from __future__ import annotations

import os
from pathlib import Path


def samples_dir() -> Path:
    override = os.environ.get("CRISIS_TESTDATA")
    # The samples are copied unmodified into tests/samples (see its README for sources).
    default = Path(__file__).resolve().parent / "samples"
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
