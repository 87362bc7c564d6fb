"""Where every simulated traveller is, and the trips some of them are on, as numpy arrays.

A trip is a polyline of geodesic legs (a flight is one great-circle leg; a road trip or
an evacuation convoy is several legs through real waypoints). Each leg is kept as its
start point, initial azimuth and length, so the position ``d`` metres along it is one
vectorised ``Geod.fwd`` call: exact on the ellipsoid and safe across the antimeridian
(``fwd`` returns longitudes in -180..180). No per-traveller Python loops.
"""

from __future__ import annotations

import numpy as np

from crisis.sim.places import GEOD

MAX_LEGS = 16

IDLE, CITY, FLIGHT, EVACUATION, RETURN = 0, 1, 2, 3, 4


class Movement:
    """Current positions and trips of ``n`` travellers (arrays indexed by traveller)."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray) -> None:
        n = len(lat)
        self.lat = np.asarray(lat, dtype=float).copy()
        self.lon = np.asarray(lon, dtype=float).copy()
        self.kind = np.zeros(n, dtype=np.int8)  # IDLE when not on a trip
        self.speed = np.zeros(n)  # metres per simulated second
        self.leg = np.zeros(n, dtype=np.int16)  # current leg
        self.along = np.zeros(n)  # metres into the current leg
        self.n_legs = np.zeros(n, dtype=np.int16)
        self.leg_lat = np.zeros((n, MAX_LEGS))
        self.leg_lon = np.zeros((n, MAX_LEGS))
        self.leg_az = np.zeros((n, MAX_LEGS))
        self.leg_len = np.zeros((n, MAX_LEGS))

    @property
    def moving(self) -> np.ndarray:
        return np.asarray(self.kind != IDLE)

    def start(self, idx: np.ndarray, wp_lat: np.ndarray, wp_lon: np.ndarray, speed: np.ndarray | float,
              kind: int, n_points: np.ndarray | None = None) -> None:
        """Put travellers ``idx`` on trips through waypoints (rows of ``wp_lat``/``wp_lon``).

        The first waypoint column is normally each traveller's current position.
        ``n_points`` gives each row's waypoint count when rows are padded (default: all).
        """
        idx = np.asarray(idx, dtype=int)
        if idx.size == 0:
            return
        wp_lat, wp_lon = np.atleast_2d(wp_lat), np.atleast_2d(wp_lon)
        width = wp_lat.shape[1]
        if width - 1 > MAX_LEGS or width < 2:
            raise ValueError(f"a trip needs 2..{MAX_LEGS + 1} waypoints, got {width}")
        counts = np.full(idx.size, width) if n_points is None else np.asarray(n_points)
        legs = width - 1
        az, _, length = GEOD.inv(wp_lon[:, :-1].ravel(), wp_lat[:, :-1].ravel(),
                                 wp_lon[:, 1:].ravel(), wp_lat[:, 1:].ravel())
        length = np.asarray(length).reshape(idx.size, legs)
        length[np.arange(legs)[None, :] >= (counts - 1)[:, None]] = 0.0  # padding legs
        self.leg_lat[idx, :legs] = wp_lat[:, :-1]
        self.leg_lon[idx, :legs] = wp_lon[:, :-1]
        self.leg_az[idx, :legs] = np.asarray(az).reshape(idx.size, legs)
        self.leg_len[idx, :legs] = length
        self.leg_len[idx, legs:] = 0.0
        self.n_legs[idx] = counts - 1
        self.leg[idx] = 0
        self.along[idx] = 0.0
        self.speed[idx] = speed
        self.kind[idx] = kind

    def advance(self, sim_seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """Move everyone on a trip; (indices that moved, indices that arrived)."""
        idx = np.flatnonzero(self.kind != IDLE)
        if idx.size == 0:
            return idx, idx
        along = self.along[idx] + self.speed[idx] * sim_seconds
        leg = self.leg[idx].astype(int)
        last = self.n_legs[idx].astype(int) - 1
        for _ in range(MAX_LEGS):
            length = self.leg_len[idx, leg]
            over = (along >= length) & (leg < last)
            if not over.any():
                break
            along[over] -= length[over]
            leg[over] += 1
        length = self.leg_len[idx, leg]
        arrived = along >= length
        along = np.minimum(along, length)
        lon, lat, _ = GEOD.fwd(self.leg_lon[idx, leg], self.leg_lat[idx, leg], self.leg_az[idx, leg], along)
        self.lat[idx], self.lon[idx] = lat, lon
        self.leg[idx], self.along[idx] = leg, along
        done = idx[arrived]
        self.kind[done] = IDLE
        self.speed[done] = 0.0
        return idx, done

    def skip(self, idx: np.ndarray, fraction: np.ndarray) -> None:
        """Start single-leg trips part-way (a fraction of their length) and place them there."""
        self.along[idx] = self.leg_len[idx, 0] * fraction
        lon, lat, _ = GEOD.fwd(self.leg_lon[idx, 0], self.leg_lat[idx, 0], self.leg_az[idx, 0], self.along[idx])
        self.lat[idx], self.lon[idx] = lat, lon
