"""Push roster changes (coverage warnings, dispatches) to browsers: filled in by its owner."""

from __future__ import annotations

from crisis.bootstrap import Context
from crisis.realtime.gateway import Gateway


def wire(ctx: Context, gateway: Gateway) -> None:
    """Follow ``keys.ROSTER_STREAM`` on the gateway and push "roster" and "dispatch"."""
