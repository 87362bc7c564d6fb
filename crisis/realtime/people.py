"""The live "who is affected" picture of a web process, pushed to browsers every tick.

``PeopleLive`` holds a ``crisis.fusion.people.PeoplePicture``: loaded from Redis (through
the adapters) on the first tick, then kept up to date from the streams the gateway tails
(positions, incidents, travellers, people, areas). Stream events are only queued on the
tail thread; each tick applies what was queued, in one go, on the tick thread, then:

- ``"affected"``, one message per changed incident and room in use (the counts cut to
  the room's region; a regional desk gets only its region's incidents)::

      {"incident": id, "counts": {"total", "safe", "needs_help", "unsure", "unreachable",
       "no_response"}, "accounted_pct": 12.5, "radius_km_used": 25.0 | None,
       "open": true, "at": ISO}

  (``counts``/``accounted_pct`` from ``crisis.domain.accountability``; a closed incident
  goes out once more with zero counts and ``"open": false``);
- ``"people"``, one message per room in use with the people whose colour (worst status
  over their scopes, or "none") or position source changed since the last tick::

      {"ids": [...], "status": [...], "affected": [bool, ...], "source": [...],
       "at": [epoch s | None, ...]}

  ``ids`` are pseudonyms (``gateway.Pseudonyms``) for rooms that do not receive
  identities (a wall); a regional desk gets only the people placed in its region.

A page opened later asks for the current picture over the socket
(``LiveNamespace.on_affected`` / ``on_people``, answered by ``affected_answer`` and
``people_answer``). Time-dependent evidence (reports ageing out, itineraries moving,
the 48-hour window) is re-evaluated every ``REFRESH_SECONDS``. If the data went away
under the picture (its epoch marker, ``crisis.adapters.picture_epoch``, is gone: a test
flushed the database), it is loaded again.

``affected_rows`` answers ``crisis.views.affected_people`` from the picture when the
picture holds everything the log holds (``caught_up``: it waits up to
``CATCH_UP_SECONDS`` for the next tick); otherwise the view computes from Redis.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np

from crisis.adapters import keys
from crisis.adapters.picture_epoch import PictureEpoch
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain import events as ev
from crisis.domain.accountability import accounted_pct, counts, incident_scope
from crisis.domain.events import Event
from crisis.domain.serialize import incident_to_dict
from crisis.fusion.affected import default_radii
from crisis.fusion.people import CONFIDENCES, NO_TIME, NOT_AFFECTED, SOURCES, PeoplePicture, from_us, is_open
from crisis.realtime.gateway import (
    Gateway, Pseudonyms, Viewer, access_viewer, incident_regions, receives_ids, room_viewer,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
LOAD_PAGE = 20_000  # profiles read from Redis at a time when loading (each page re-lists the ids)
CATCH_UP_SECONDS = 2.0  # how long a read waits for the picture to apply what is already in the log
_LIVE: dict[int, PeopleLive] = {}  # id(context) -> the picture of the web process that context serves


def live_for(context: Context) -> PeopleLive | None:
    """The live picture kept for this context in this process (None: none, e.g. the CLI)."""
    return _LIVE.get(id(context))


def _stream_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms or 0), int(seq or 0)
STREAMS = (keys.POSITION_STREAM, keys.INCIDENT_STREAM, keys.TRAVELLERS_STREAM, keys.PEOPLE_STREAM, keys.AREAS_STREAM)


def viewer_of(room: str) -> tuple[Viewer, str | None]:
    """The access viewer a room stands for, and its region (None: every region)."""
    return access_viewer(room), room_viewer(room)[1]


class PeopleLive:
    """One web process's live people picture and its pushes."""

    def __init__(self, context: Context, pseudonyms: Pseudonyms, clock: Callable[[], Any] | None = None) -> None:
        self._ctx = context
        settings = context.settings
        self.picture = self._new_picture()
        self._pseudonyms = pseudonyms
        self._clock = clock or context.deps.clock
        self._lock = threading.RLock()  # the picture: applied on the tick thread, read by socket handlers
        self._queue_lock = threading.Lock()
        self._queue: list[tuple[str, Event]] = []
        self._loaded = False
        self._loader: threading.Thread | None = None  # loads the picture off the tick thread at start
        self._refreshed = 0.0
        self._known: dict[str, dict[str, Any]] = {}  # every incident seen (closed ones too): id -> record
        self._queued_ids: dict[str, str] = {}  # stream -> id of the last entry queued
        self._applied: dict[str, str] = {}  # stream -> id up to which the picture holds the log
        self._applied_changed = threading.Condition()
        self._epoch = PictureEpoch(context.redis)
        self._epoch_token: str | None = None
        self._tick_seconds = settings.tick_seconds
        self.last_tick_ms = 0.0
        self.sent_affected = 0
        self.sent_people = 0

    def _new_picture(self) -> PeoplePicture:
        s = self._ctx.settings
        return PeoplePicture(default_radii(s.default_radius_km), s.affected_buffer_km,
                             timedelta(hours=s.position_max_age_hours), locate=self._ctx.deps.countries.locate)

    # -- wiring ----------------------------------------------------------------------------

    def wire(self, gateway: Gateway) -> None:
        """Follow the streams and push on every tick (call before ``gateway.start``)."""
        self._gateway = gateway
        for stream in STREAMS:
            gateway.follow(stream, self._follower(stream))
        gateway.on_tick(self.tick)
        gateway.on_primary_change(self.reload)

    def _follower(self, stream: str) -> Callable[[str, Any], None]:
        def on_event(entry_id: str, event: Event) -> None:
            with self._queue_lock:
                self._queue.append((stream, event))
                self._queued_ids[stream] = entry_id

        return on_event

    # -- loading ---------------------------------------------------------------------------

    def ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                self.load()

    def load(self) -> None:
        """The whole picture from Redis (every traveller, report, check-in place, open
        incident, status of the open scopes, area)."""
        ctx = self._ctx
        started = time.perf_counter()
        with self._lock:
            self._epoch_token = self._epoch.mark()  # before the reads: a flush after it is seen
            heads = {stream: ctx.deps.log.last_id(stream) for stream in STREAMS}  # what is read below holds at least these
            picture = self._new_picture()
            assert ctx.deps.travellers is not None
            incidents = [i for i in self._incidents() if is_open(i)]
            areas = self._areas()
            scopes = [incident_scope(str(i["id"])) for i in incidents]
            scopes += [f"area:{a['id']}" for a in areas if (a.get("movement") or {}).get("people")]
            statuses = ctx.roll.status_many(scopes) if scopes else {}
            snapshot = ctx.deps.positions.snapshot()  # the region of each report (as located when it came)
            report_regions = dict(zip(snapshot["ids"], snapshot["region"]))
            del snapshot
            picture.load(self._clock(), self._profiles(), self._reports, self._checkins, incidents, statuses, areas,
                         report_regions)
            picture.touch(picture.incidents)  # after a reload, every open incident's counts go out again,
            picture.touch_people()  # and everyone in a scope (what changed meanwhile is in there)
            self.picture = picture
            self._known = {str(i["id"]): i for i in self._incidents()}
            self._loaded = True
            self._refreshed = time.monotonic()
            self._set_applied(heads, replace=True)
        log.info("people picture loaded: %d travellers, %d open incidents in %.1f s", len(picture),
                 len(picture.incidents), time.perf_counter() - started)

    def reload(self) -> None:
        """Another Redis server is behind the log (a failover): the picture, and the stream
        entries queued for it, may hold what the old primary stored and the new one never had
        (a status, a position, an incident whose WAIT failed). Dropped, and loaded again from
        the new server before the clients are told to replace their pictures (they then ask
        "people" again: ``people_answer`` answers from this one)."""
        with self._lock:
            with self._queue_lock:
                self._queue, self._queued_ids = [], {}
            if self._loaded:
                self.load()

    def _set_applied(self, ids: dict[str, str], replace: bool = False) -> None:
        with self._applied_changed:
            if replace:
                self._applied = {}
            for stream, entry_id in ids.items():
                before = self._applied.get(stream)
                if before is None or _stream_key(entry_id) > _stream_key(before):
                    self._applied[stream] = entry_id
            self._applied_changed.notify_all()

    def caught_up(self, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Whether the picture holds everything the log holds now (waiting up to ``timeout``
        for the next tick to apply it); False when not loaded or not caught up in time
        (after a database flushed under it, it waits for the next tick to load it again)."""
        if not self._loaded:
            return False
        log_ = self._ctx.deps.log
        heads = {stream: _stream_key(log_.last_id(stream)) for stream in STREAMS}
        deadline = time.monotonic() + timeout
        with self._applied_changed:
            while True:
                # a flushed database: the next tick loads the picture again (and sets what it holds)
                if not self._was_reset():
                    applied = {s: _stream_key(self._applied.get(s, "0-0")) for s in STREAMS}
                    if all(applied[s] >= heads[s] for s in STREAMS):
                        return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._applied_changed.wait(min(left, 0.05))

    def affected_rows(self, incident_id: str) -> dict[str, Any] | None:
        """Who is affected by an open incident, from the picture, when it holds everything the
        log holds (else None: the caller computes it from Redis). Each row: traveller id,
        reason, distance_km, arrival (or None), and the best-known position's lat, lon,
        source, at, confidence, in_transit and region."""
        if not self.caught_up():
            return None
        with self._lock:
            p = self.picture
            if incident_id not in p.incidents:
                return None
            rows = []
            for a in p.affected(incident_id):
                r = a.row
                source = SOURCES[int(p.source[r])] or None
                rows.append({
                    "traveller_id": p.ids[r], "reason": a.reason, "distance_km": a.distance_km,
                    "arrive": None if a.arrive_us is None else from_us(a.arrive_us),
                    "lat": float(p.lat[r]), "lon": float(p.lon[r]), "source": source,
                    "at": None if source is None else from_us(int(p.at[r])),
                    "confidence": CONFIDENCES[int(p.confidence[r])] or None, "in_transit": bool(p.in_transit[r]),
                    "region": p.region[r]})
            return {"radius_km_used": p.radius_used(incident_id), "rows": rows, "now": from_us(p.now_us)}

    def _profiles(self) -> Iterator[dict[str, Any]]:
        """Every stored profile, a page at a time (the whole lot is never in memory at once)."""
        store = self._ctx.deps.travellers
        assert store is not None
        offset = 0
        while True:
            page, total = store.page(offset, LOAD_PAGE)
            yield from page
            offset += LOAD_PAGE
            if not page or offset >= total:
                return

    def _reports(self, ids: list[str]) -> dict[str, tuple[float, float, str]]:
        store = self._ctx.deps.travellers
        assert store is not None
        out: dict[str, tuple[float, float, str]] = {}
        for i in range(0, len(ids), LOAD_PAGE):
            out.update(store.latest_reports(ids[i:i + LOAD_PAGE]))
        return out

    def _checkins(self, ids: list[str]) -> dict[str, tuple[float, float, str]]:
        out: dict[str, tuple[float, float, str]] = {}
        for i in range(0, len(ids), LOAD_PAGE):
            out.update(self._ctx.roll.checkin_places(ids[i:i + LOAD_PAGE]))
        return out

    def _load_once(self) -> None:
        try:
            self.ensure_loaded()
        except Exception:  # noqa: BLE001 - a later tick tries again
            log.exception("loading the people picture failed")
        finally:
            self._loader = None

    def _incidents(self) -> list[dict[str, Any]]:
        return [incident_to_dict(i) for i in self._ctx.deps.incidents.all()]

    def _areas(self) -> list[dict[str, Any]]:
        from crisis.views_areas import areas

        return areas(self._ctx).all()

    def _was_reset(self) -> bool:
        """The stored data went away under the picture (its epoch marker is gone or another)."""
        return self._epoch.current() != self._epoch_token

    # -- every tick ------------------------------------------------------------------------

    def tick(self, rooms: set[str]) -> None:
        """Apply what the streams brought since the last tick; push what changed."""
        # Registered by its running gateway's ticks, not when wired: an app built on the same
        # context without a gateway (a second app in a test) must not stand in for this one.
        _LIVE[id(self._ctx)] = self
        if not self._loaded:  # the first load (seconds at 100,000) must not hold up the gateway's ticks
            if self._loader is None:
                self._loader = threading.Thread(target=self._load_once, name="people-load", daemon=True)
                self._loader.start()
            return
        started = time.perf_counter()
        with self._lock:
            if self._was_reset():
                self.load()
            with self._queue_lock:
                queued, self._queue = self._queue, []
                queued_ids = dict(self._queued_ids)
            closed = self._apply(queued)
            self._set_applied(queued_ids)
            if time.monotonic() - self._refreshed >= REFRESH_SECONDS:
                self.picture.refresh(self._clock())
                self._refreshed = time.monotonic()
            drained = self.picture.drain()
            if rooms and drained.incidents:
                now = self._clock().isoformat()
                for iid in drained.incidents:
                    by_region = self.picture.counts_by_region(iid) if iid in self.picture.incidents else {}
                    record = self._known.get(iid) or closed.get(iid)
                    if record is None:
                        continue
                    self.sent_affected += self._gateway.emit_per_room(
                        "affected", functools.partial(self._affected_for, record=record, by_region=by_region, now=now),
                        rooms)
            if rooms and len(drained.people):
                self.sent_people += self._gateway.emit_per_room(
                    "people", lambda room: self._people_for(room, drained.people), rooms)
        self.last_tick_ms = (time.perf_counter() - started) * 1000.0

    def _apply(self, queued: list[tuple[str, Event]]) -> dict[str, dict[str, Any]]:
        """Apply queued stream events to the picture, batched by kind; the incidents closed."""
        picture = self.picture
        now = self._clock()
        pos: dict[str, list[Any]] = {"ids": [], "lat": [], "lon": [], "time": [], "region": []}
        chk: dict[str, list[Any]] = {"ids": [], "lat": [], "lon": [], "time": []}
        profiles: dict[str, dict[str, Any]] = {}
        incidents: dict[str, dict[str, Any]] = {}
        statuses: list[tuple[str, str, str]] = []
        areas: list[dict[str, Any]] = []
        for stream, event in queued:
            p = event.payload
            if stream == keys.POSITION_STREAM and event.type == ev.POSITIONS_REPORTED:
                for name in ("ids", "lat", "lon", "time", "region"):
                    pos[name].extend(p.get(name) or [None] * len(p["ids"]))
            elif stream == keys.INCIDENT_STREAM and isinstance(p.get("incident"), dict):
                incidents[str(p["incident"]["id"])] = p["incident"]
            elif stream == keys.TRAVELLERS_STREAM:
                for profile in p.get("travellers") or ():
                    profiles[str(profile.get("id"))] = profile
            elif stream == keys.PEOPLE_STREAM and event.type in (ev.STATUS_SET, ev.CHECKIN_RECORDED):
                tid, status = str(p.get("traveller_id")), str(p.get("status"))
                for scope in p.get("scopes") or ([p["scope"]] if p.get("scope") else []):
                    statuses.append((str(scope), tid, status))
                if isinstance(p.get("lat"), (int, float)) and isinstance(p.get("lon"), (int, float)):
                    chk["ids"].append(tid)
                    chk["lat"].append(float(p["lat"]))
                    chk["lon"].append(float(p["lon"]))
                    chk["time"].append(p.get("at"))
            elif stream == keys.AREAS_STREAM and isinstance(p.get("area"), dict):
                areas.append(p["area"])
        if profiles:
            picture.apply_travellers(list(profiles.values()), now)
        if pos["ids"]:
            picture.apply_positions(pos["ids"], pos["lat"], pos["lon"], pos["time"], pos["region"], now)
        if chk["ids"]:
            picture.apply_checkins(chk["ids"], chk["lat"], chk["lon"], chk["time"], now)
        closed = {}
        if incidents:
            for iid, record in incidents.items():
                self._known[iid] = record
                if not is_open(record):
                    closed[iid] = record
            picture.apply_incidents(list(incidents.values()))
        for scope, tid, status in statuses:
            picture.apply_status(scope, tid, status)
        for area in areas:
            picture.apply_area(area)
        return closed

    # -- messages --------------------------------------------------------------------------

    def _affected_for(self, room: str, record: dict[str, Any], by_region: dict[str | None, dict[str, int]],
                      now: str) -> dict[str, Any] | None:
        viewer, region = viewer_of(room)
        return self._affected_message(viewer, region, record, by_region, now)

    def _affected_message(self, viewer: Viewer | access.HasRole, region: str | None, record: dict[str, Any],
                          by_region: dict[str | None, dict[str, int]], now: str) -> dict[str, Any] | None:
        if not access.may_see_regions(viewer, incident_regions(record)):
            return None
        iid = str(record["id"])
        wanted = access.scope_regions(region)
        if wanted is None:
            c = by_region.get(None) or counts(())
        else:  # the people of the scope's regions (a person is in one region)
            c = counts(())
            for code in wanted:
                for key, n in (by_region.get(code) or {}).items():
                    c[key] = c.get(key, 0) + n
        return {"incident": iid, "counts": c, "accounted_pct": accounted_pct(c),
                "radius_km_used": self.picture.radius_used(iid), "open": iid in self.picture.incidents, "at": now}

    def _people_for(self, room: str, rows: Any, full: bool = False) -> dict[str, Any] | None:
        viewer, region = viewer_of(room)
        return self._people_message(viewer, region, rows, full)

    def _people_message(self, viewer: Viewer | access.HasRole, region: str | None, rows: Any,
                        full: bool = False) -> dict[str, Any] | None:
        picture = self.picture
        rows = np.asarray(rows, dtype=np.int64)
        wanted = access.scope_regions(region)
        if wanted is not None:
            rows = rows[np.array([reg in wanted for reg in picture.region[rows].tolist()], dtype=bool)]
        if not len(rows) and not full:
            return None
        ids = [picture.ids[r] for r in rows.tolist()]
        if not receives_ids(viewer):
            ids = self._pseudonyms.many(ids)
        colours = [picture.colour(r) if full else picture.sent_colour[r] for r in rows.tolist()]
        at = picture.at[rows]
        message: dict[str, Any] = {
            "ids": ids,
            "status": colours,
            "affected": [c != NOT_AFFECTED for c in colours],
            "source": [SOURCES[s] or None for s in picture.source[rows].tolist()],
            "at": [None if t == NO_TIME else round(t / 1e6, 3) for t in at.tolist()],
            # the best-known position: people placed by a check-in, their itinerary or their
            # duty station are drawn from here (position reports also come as "positions")
            "lat": [None if v != v else round(v, 5) for v in picture.lat[rows].astype(float).tolist()],
            "lon": [None if v != v else round(v, 5) for v in picture.lon[rows].astype(float).tolist()],
        }
        if full:
            message["full"] = True
        return message

    # -- answers to a socket (a page opened later) ------------------------------------------

    def affected_answer(self, viewer: access.HasRole, region: str | None, incident_id: str | None) -> dict[str, Any]:
        """The "affected" message of one incident (``{"error": "not found"}`` when the viewer
        may not see it or it does not exist), or of every open incident the viewer may see
        (``{"incidents": [...]}``)."""
        self.ensure_loaded()
        with self._lock:
            now = self._clock().isoformat()
            if incident_id is None:
                found = [self._affected_message(viewer, region, self._known.get(iid) or rec,
                                                self.picture.counts_by_region(iid), now)
                         for iid, rec in self.picture.incidents.items()]
                return {"incidents": [m for m in found if m is not None]}
            record = self.picture.incidents.get(incident_id) or self._known.get(incident_id)
            message = None
            if record is not None:
                by_region = self.picture.counts_by_region(incident_id) if incident_id in self.picture.incidents else {}
                message = self._affected_message(viewer, region, record, by_region, now)
            return message if message is not None else {"error": "not found", "incident": incident_id}

    def people_answer(self, viewer: access.HasRole, region: str | None) -> dict[str, Any]:
        """Everyone in a scope now (the people a "people" message would colour), as one
        ``"people"`` message with ``"full": true``."""
        self.ensure_loaded()
        with self._lock:
            rows = np.array(sorted(self.picture.scopes_of), dtype=np.int64)
            return self._people_message(viewer, region, rows, full=True) or {}
