"""The demo's scenario simulator: invented travellers at real duty stations, a storyline
of incidents, and movements, fed through the same command handlers as any real feed.

``scenario`` (with ``places``, ``movement``, ``story`` and ``people``: profiles, handsets'
CoT, and the area, relocation and check-in actions) is pure and deterministic for a
seed, so it can be tested without a clock or a database; ``runner`` is the thread that
drives it against the real handlers in ``crisis demo``.
"""
