"""The /live Socket.IO namespace: who may connect, which rooms they join, and resync.

A client authenticates with its session cookie or with ``{"token": ...}`` as the connect
auth payload. After connecting it sends ``sync`` with the last incident stream id it
applied; the server answers with the incidents it missed (replayed from the log) or,
when that id was trimmed away or unknown, with a full snapshot; and always with a full
snapshot of positions (a newer position supersedes an older one, so there is nothing
to replay); and the feeds' health.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room

from crisis.adapters import keys
from crisis.adapters.accounts import AccountStore, Principal
from crisis.adapters.eventlog import EventLog
from crisis.adapters.incident_store import IncidentStore
from crisis.adapters.position_store import PositionStore
from crisis.domain.serialize import incident_to_dict
from crisis.layers.incidents import incident_message
from crisis.realtime.gateway import ALL, NAMESPACE, FeedReport, positions_message, region_room

REPLAY_LIMIT = 5000


class LiveNamespace(Namespace):
    def __init__(
        self,
        accounts: AccountStore,
        event_log: EventLog,
        incidents: IncidentStore,
        positions: PositionStore,
        feed_report: FeedReport | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self._feed_report = feed_report
        self._accounts = accounts
        self._log = event_log
        self._incidents = incidents
        self._positions = positions
        self._principals: dict[str, Principal] = {}

    def _authenticate(self, auth: Any) -> Principal | None:
        if isinstance(auth, dict) and auth.get("token"):
            return self._accounts.token(str(auth["token"]))
        if current_user.is_authenticated:
            return current_user.principal  # type: ignore[no-any-return]
        return None

    def on_connect(self, auth: Any = None) -> None:
        principal = self._authenticate(auth)
        if principal is None or not principal.can_read:
            raise ConnectionRefusedError("authentication required: log in, or connect with auth={'token': ...}")
        if not principal.sees_all_regions and not principal.region:
            raise ConnectionRefusedError(f"user {principal.name} has no region assigned")
        self._principals[request.sid] = principal  # type: ignore[attr-defined]
        join_room(ALL if principal.sees_all_regions else region_room(principal.region or ""))
        emit("welcome", {"user": principal.name, "role": principal.role, "region": principal.region})

    def on_disconnect(self, reason: Any = None) -> None:
        self._principals.pop(request.sid, None)  # type: ignore[attr-defined]

    def _region(self) -> str | None:
        principal = self._principals[request.sid]  # type: ignore[attr-defined]
        return None if principal.sees_all_regions else principal.region

    def on_sync(self, data: Any = None) -> dict[str, Any]:
        """Replay what the client missed, or send a snapshot. Returns a summary (ack)."""
        region = self._region()
        last_id = (data or {}).get("last_id") if isinstance(data, dict) else None
        head = self._log.last_id(keys.INCIDENT_STREAM)
        mode = "snapshot"
        if last_id and self._log.covers(keys.INCIDENT_STREAM, last_id):
            missed = self._log.read_after(keys.INCIDENT_STREAM, last_id, REPLAY_LIMIT)
            if len(missed) < REPLAY_LIMIT:
                mode = "replay"
                for event in missed:
                    incident = event.payload["incident"]
                    if region is None or incident.get("region") == region:
                        emit("incident", incident_message(incident, event.type, event.id or ""))
        if mode == "snapshot":
            incidents = [
                incident_message(incident_to_dict(i), "snapshot", head)
                for i in self._incidents.all()
                if region is None or i.region == region
            ]
            emit("snapshot", {"incidents": incidents, "stream_id": head})
        snap = self._positions.snapshot(region)
        emit("positions", positions_message(snap["ids"], snap["lat"], snap["lon"], self._log.last_id(keys.POSITION_STREAM), True))
        if self._feed_report is not None:
            emit("feeds", self._feed_report())
        return {"mode": mode, "stream_id": head}
