"""An incident's lifecycle buttons: the next step first (and primary), in one fixed order.

The workflow is reported -> verified -> active -> contained -> closed
(``crisis.domain.incidents.ALLOWED_TRANSITIONS``: a step may be skipped forward, a contained
incident may flare up again, a closed one may be reopened). The buttons follow that order
whatever the current status, so they never move about: first the steps forward (the very
next one is the primary button), then the steps back (flare up, reopen). "Close" asks for
confirmation in the browser (``data-confirm``, assets/crisis_workspace.js).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dash import html

from crisis.domain.incidents import ALLOWED_TRANSITIONS
from crisis.domain.model import IncidentStatus
from crisis.ui import ids

WORKFLOW = ("reported", "verified", "active", "contained", "closed")
LABELS = {"verified": "Verify", "active": "Mark active", "contained": "Mark contained", "closed": "Close"}
BACK_LABELS = {("contained", "active"): "Flared up: mark active again", ("closed", "active"): "Reopen"}
CONFIRM = {"closed": "Close this incident? It stays visible, greyed, for a while, and can be reopened."}


def steps(status: str, allowed: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The lifecycle steps from ``status``: [{"to", "label", "primary", "confirm"}], forward
    steps first in workflow order (the first is primary), then steps back."""
    if allowed is None:
        allowed = [s.value for s in ALLOWED_TRANSITIONS[IncidentStatus(status)]]
    allowed = set(allowed)
    here = WORKFLOW.index(status) if status in WORKFLOW else -1
    forward = [s for s in WORKFLOW if s in allowed and WORKFLOW.index(s) > here]
    back = [s for s in WORKFLOW if s in allowed and WORKFLOW.index(s) <= here]
    out = []
    for n, to in enumerate(forward + back):
        out.append({"to": to, "label": BACK_LABELS.get((status, to)) or LABELS.get(to, to),
                    "primary": n == 0, "confirm": CONFIRM.get(to)})
    return out


def workflow_table() -> dict[str, list[dict[str, Any]]]:
    """Every status's steps, for the browser (the incident panel of the live map)."""
    return {s.value: steps(s.value) for s in IncidentStatus}


def sent_words(n: int) -> str:
    """What closing asks about the officers still sent (assets/crisis_workspace.js says the same)."""
    if n <= 0:
        return ""
    return (f" {n} surge officer{'s are' if n != 1 else ' is'} still sent to it: stand them down, or cancel their "
            "dispatches, on the dispatch page.")


def people_words(counts: Mapping[str, Any] | None) -> str:
    """What closing asks about the affected people still needing help or not accounted for
    (assets/crisis_workspace.js says the same): closing ends the incident's roll-call, and
    they leave the counts of people needing help."""
    counts = counts or {}
    need = int(counts.get("needs_help") or 0)
    missing = int(counts.get("unreachable") or 0) + int(counts.get("no_response") or 0)
    parts = ([f"{need} {'person still needs' if need == 1 else 'people still need'} help"] if need else []) + \
            ([f"{missing} {'is' if missing == 1 else 'are'} not accounted for"] if missing else [])
    if not parts:
        return ""
    return (f" Of the people affected, {' and '.join(parts)}: closing ends its roll-call, and they leave the counts of "
            "people needing help.")


def lifecycle_buttons(incident_id: str, status: str, allowed: Iterable[str] | None = None, sent: int = 0,
                      people: Mapping[str, Any] | None = None) -> html.Div:
    """The buttons (pattern ids ``ids.status_action``) in workflow order, the next step primary;
    closing asks first, and says how many surge officers are still ``sent`` to it and how
    many affected ``people`` (accountability counts) still need help or are not accounted for."""
    buttons = []
    for step in steps(status, allowed):
        closing = sent_words(sent) + people_words(people) if step["to"] == "closed" else ""
        confirm = step["confirm"] + closing if step["confirm"] else None
        extra = {"data-confirm": confirm} if confirm else {}
        buttons.append(html.Button(
            step["label"], id=ids.status_action(incident_id, step["to"]),
            className="action lifecycle-step action-" + step["to"] + (" action-primary lifecycle-next" if step["primary"] else ""),
            **extra))
    return html.Div(buttons, className="detail-actions lifecycle", **{"data-status": status})
