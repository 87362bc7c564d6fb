"""The standby roster and surge dispatch: rules only, no I/O (like ``crisis.domain``).

* ``model``: officers, standby slots, leave, dispatches (frozen dataclasses, to/from JSON);
* ``slots``: validation of slots and leave, overlaps, who is on standby at a moment, who is next;
* ``rotations``: the fair rotation generator;
* ``coverage``: cover per region, skill and language over a period, and its warnings;
* ``ranking``: the candidates for an incident, ranked, each rank explained;
* ``dispatch``: the dispatch workflow and the promotion of an alternate.
"""
