"""Push the roll-call's counts to browsers, live: socket event ``"accountability"``.

The message is ``crisis.views.accountability_summary`` as the room's viewer may see it
(``live_accountability_summary``)::

    {"incidents": [{"incident", "title", "region", "counts", "accounted_pct"}, ...],
     "areas": [{"area", "name", "region", "counts", "accounted_pct"}, ...],
     "regions": [{"region", "counts", "accounted_pct"}, ...],   # each person once, worst status
     "computed_at": ISO}

(needs_help first in each list; a regional desk's room gets only its region; counts
only, no identities, so a wall's room gets the same as a duty officer's.)

When: after a status change, a check-in, an incident or area change (the gateway's
followers of ``keys.PEOPLE_STREAM``, ``keys.INCIDENT_STREAM`` and ``keys.AREAS_STREAM``
mark it due), at most once every ``MIN_INTERVAL_S``, and every ``REFRESH_S`` anyway
(people move: positions change who is affected). It is computed on a worker thread,
never on the tick thread, and only from the web process's live people picture
(``crisis.realtime.people``): while that is not up to date the push waits for a later
tick rather than recomputing everything from Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from crisis import views
from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.realtime.gateway import Gateway, access_viewer

log = logging.getLogger(__name__)

EVENT = "accountability"
MIN_INTERVAL_S = 1.0
REFRESH_S = 30.0
STREAMS = (keys.PEOPLE_STREAM, keys.INCIDENT_STREAM, keys.AREAS_STREAM)




class AccountabilityPush:
    def __init__(self, context: Context, gateway: Gateway, min_interval_s: float = MIN_INTERVAL_S,
                 refresh_s: float = REFRESH_S) -> None:
        self._ctx = context
        self._gateway = gateway
        self._min_interval = min_interval_s
        self._refresh = refresh_s
        self._due = threading.Event()
        self._due.set()  # the first room to open gets the counts
        self._busy = threading.Lock()
        self._last = 0.0
        self.sent = 0

    def wire(self) -> None:
        for stream in STREAMS:
            self._gateway.follow(stream, self._on_event)
        self._gateway.on_tick(self._on_tick)
        self._gateway.on_primary_change(self._due.set)  # a failover: the counts of the new server, at once

    def _on_event(self, entry_id: str, event: Any) -> None:
        self._due.set()

    def _on_tick(self, rooms: set[str]) -> None:
        now = time.monotonic()
        if not rooms or now - self._last < self._min_interval:
            return
        if not self._due.is_set() and now - self._last < self._refresh:
            return
        if not self._busy.acquire(blocking=False):
            return  # the previous push is still being computed
        self._due.clear()
        self._last = now
        threading.Thread(target=self._push, args=(set(rooms),), name="accountability-push", daemon=True).start()

    def _push(self, rooms: set[str]) -> None:
        try:
            self.push(rooms)
        except Exception:  # noqa: BLE001 - the next change tries again
            log.exception("the accountability push failed")
            self._due.set()
        finally:
            self._busy.release()

    def push(self, rooms: set[str]) -> int:
        """Compute and send the counts to these rooms now; how many messages were sent (0 and
        due again when the live picture is not up to date)."""
        summaries: dict[str | None, dict[str, Any] | None] = {}  # region (None: every region) -> summary

        def message_for(room: str) -> dict[str, Any] | None:
            viewer = access_viewer(room)
            scope = access.region_scope(viewer)
            if scope not in summaries:
                summaries[scope] = views.live_accountability_summary(self._ctx, viewer)
            return summaries[scope]

        sent = self._gateway.emit_per_room(EVENT, message_for, rooms)
        if any(summary is None for summary in summaries.values()):
            self._due.set()
        self.sent += sent
        return sent
