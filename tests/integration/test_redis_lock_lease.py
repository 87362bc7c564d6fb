"""The named lock of the handlers (``Deps.lock``, crisis.adapters.redis_ha.LeasedLock) on
the real embedded Redis, held by another process: a holder killed with SIGKILL frees it
within one lease (seconds, not the old 30 s time-out); a live holder that works longer
than several leases is never overtaken (its process renews the lease).

The holder is a real subprocess wired by ``crisis.bootstrap`` (the product's lock), the
waiter is this test's context, as two web instances would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.config import Settings
from tests.conftest import random_ref

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LEASE_S = Settings().lock_lease_s
FREED_WITHIN_S = 8.0  # the contract: a holder killed costs the next caller seconds (the lease: 5 s), not 30

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from crisis.bootstrap import bootstrap
    from crisis.config import Settings

    url, data_dir, name, lease, hold = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    settings = Settings(redis_url=url, data_dir=Path(data_dir), **({"lock_lease_s": float(lease)} if lease else {}))
    context = bootstrap(settings, countries=object())  # no country lookups here
    with context.deps.lock(name + ":before"):  # a process that held a lock before, its keeper idle since
        pass
    time.sleep(0.5)
    with context.deps.lock(name):
        print("held", flush=True)
        end = time.monotonic() + hold
        while time.monotonic() < end:  # busy, holding the GIL most of the time, as real work does
            sum(range(20_000))
        context.redis.set(sys.argv[6], "done")
        print("done", flush=True)
    print("released", flush=True)
""")


def _holder(context: Context, tmp_path: Path, name: str, lease: str, hold_s: float, flag: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, context.redis_handle.url, str(tmp_path), name, lease, str(hold_s), flag],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "held":
        _end(process)
        raise AssertionError(f"the holder did not take the lock: {line!r} {process.stderr.read() if process.stderr else ''}")
    return process


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)  # closes its pipes


def _held_by_someone(context: Context, name: str) -> bool:
    return bool(context.redis.exists(f"{keys.PREFIX}:lock:{name}"))


@pytest.mark.timeout(120)
def test_a_holder_killed_with_sigkill_frees_the_lock_within_one_lease(context: Context, tmp_path: Path) -> None:
    name, flag = random_ref("killed-holder-"), random_ref("flag-")
    holder = _holder(context, tmp_path, name, "", 600.0, flag)  # the default lease; would hold 10 minutes
    try:
        time.sleep(DEFAULT_LEASE_S * 1.5)  # a live holder keeps it past its first lease
        assert _held_by_someone(context, name)
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=10)
        killed = time.monotonic()
        with context.deps.lock(name):
            waited = time.monotonic() - killed
        assert not context.redis.exists(flag)  # the holder never finished
        assert waited <= FREED_WITHIN_S, f"the next caller waited {waited:.1f} s after the kill"
    finally:
        _end(holder)


@pytest.mark.timeout(120)
def test_a_live_holder_working_for_several_leases_is_never_overtaken(context: Context, tmp_path: Path) -> None:
    name, flag = random_ref("live-holder-"), random_ref("flag-")
    lease_s, hold_s = 1.0, 5.0  # five leases of busy work
    holder = _holder(context, tmp_path, name, str(lease_s), hold_s, flag)
    try:
        asked = time.monotonic()
        with context.deps.lock(name):
            waited = time.monotonic() - asked
            assert context.redis.get(flag) == "done", f"overtaken after {waited:.1f} s, before the holder finished"
        out, err = holder.communicate(timeout=30)
        assert holder.returncode == 0, err
        assert "released" in out
        assert "expired while its holder still works" not in err
    finally:
        _end(holder)
