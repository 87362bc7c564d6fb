"""Component ids shared between the shell, the pages and assets/crisis_live.js."""

from typing import Any

LIVE_CONFIG = "live-config"
LIVE_SIGNAL = "live-signal"
LIVE_STATUS = "live-status"
LIVE_AGE = "live-age"
LIVE_COUNTS = "live-counts"
LIVE_FEEDS = "live-feeds"

MAP = "live-map"
MAP_MOUNTED = "map-mounted"
INCIDENT_LIST = "incident-list"

FEED_GRID = "feed-grid"
DEAD_LETTER_GRID = "dead-letter-grid"
FEEDS_REJECTED_TOTAL = "feeds-rejected-total"

BOARD_GRID = "incident-grid"
BOARD_DETAIL = "incident-detail"
BOARD_FILTER_REGION = "filter-region"
BOARD_FILTER_TYPE = "filter-type"
BOARD_FILTER_SEVERITY = "filter-severity"
BOARD_FILTER_STATUS = "filter-status"
BOARD_FILTER_WINDOW = "filter-window"

DETAIL_OWNER = "detail-owner"
DETAIL_NOTE = "detail-note"
DETAIL_SAVE = "detail-save"
DETAIL_MESSAGE = "detail-message"
DETAIL_INCIDENT = "detail-incident"

REPORT_CLICK = "report-click"
REPORT_PANEL = "report-panel"
REPORT_TITLE = "report-title"
REPORT_TYPE = "report-type"
REPORT_SEVERITY = "report-severity"
REPORT_RADIUS = "report-radius"
REPORT_DESCRIPTION = "report-description"
REPORT_SUBMIT = "report-submit"
REPORT_CANCEL = "report-cancel"
REPORT_RESULT = "report-result"
REPORT_WHERE = "report-where"


def status_action(incident_id: str, status: str) -> dict[str, str]:
    """Pattern-matching id of the button that moves an incident to ``status``."""
    return {"type": "status-action", "incident": incident_id, "to": status}

# People: the affected people of an incident, accountability, areas and movements (issue 7).
PEOPLE_PANEL = "people-panel"
PEOPLE_GRID = "people-grid"
PEOPLE_COUNTS = "people-counts"
PEOPLE_PCT = "people-pct"
PEOPLE_LIVE = "people-live"
PEOPLE_BURNDOWN = "people-burndown"
PEOPLE_NOTE = "people-note"
PEOPLE_MESSAGE = "people-message"
PEOPLE_INCIDENT = "people-incident"

NEEDS_HELP_BADGE = "needs-help-badge"
NEEDS_HELP_SEED = "needs-help-seed"

ROLL_PAGE = "roll-page"
ROLL_LIVE = "roll-live"
ROLL_INCIDENTS = "roll-incidents"
ROLL_AREAS = "roll-areas"
ROLL_REGIONS = "roll-regions"
ROLL_TOTALS = "roll-totals"
ROLL_UNAFFECTED = "roll-unaffected"

AREAS_PAGE = "areas-page"
AREAS_LIVE = "areas-live"
AREAS_GRID = "areas-grid"
AREAS_MAP = "areas-map"
AREAS_DETAIL = "areas-detail"
AREAS_SELECTED = "areas-selected"
AREA_PHASE = "area-phase"
AREA_PHASE_SAVE = "area-phase-save"
AREA_HAVEN_NAME = "area-haven-name"
AREA_HAVEN_LAT = "area-haven-lat"
AREA_HAVEN_LON = "area-haven-lon"
AREA_MODE = "area-mode"
AREA_ARRIVAL = "area-arrival"
AREA_CONFIRM = "area-confirm"
AREA_REASON = "area-reason"
AREA_ADD_ID = "area-add-id"  # a traveller id typed, to put on the movement list by hand
AREA_ADD = "area-add"
AREA_REMOVE = "area-remove"  # take the ticked people off the list (with the reason typed)
AREA_MESSAGE = "area-message"
AREA_WORK = "area-work"  # what acts on the selected area: hidden while none is
AREA_MOVEMENT_WORK = "area-movement-work"  # its movement: hidden while it has none (below phase III)
# "New area": a name, a phase, and a whole country or a circle around a point
AREA_NEW_NAME = "area-new-name"
AREA_NEW_PHASE = "area-new-phase"
AREA_NEW_WHERE = "area-new-where"  # "circle" or "country"
AREA_NEW_COUNTRY = "area-new-country"
AREA_NEW_CIRCLE = "area-new-circle"  # the circle's inputs, shown when "circle" is chosen
AREA_NEW_LAT = "area-new-lat"
AREA_NEW_LON = "area-new-lon"
AREA_NEW_RADIUS = "area-new-radius"
AREA_NEW_SAVE = "area-new-save"
MOVEMENT_GRID = "movement-grid"


def people_status_action(status: str) -> dict[str, str]:
    """Pattern-matching id of the button that sets the selected people's accountability status."""
    return {"type": "people-status", "to": status}


def movement_progress_action(progress: str) -> dict[str, str]:
    """Pattern-matching id of the button that sets the selected people's movement progress."""
    return {"type": "movement-progress", "to": progress}


def people_count(status: str) -> str:
    """Id of the number of people with this accountability status ("total" too) on an incident's page."""
    return f"people-count-{status}"


def people_count_box(status: str) -> str:
    """Id of the box around ``people_count(status)`` (its class says whether it is loud)."""
    return f"people-count-{status}-box"

AREAS_FILTER_REGION = "areas-filter-region"


def area_status_action(status: str) -> dict[str, str]:
    """Pattern-matching id of the button that sets the selected listed people's accountability status in an area's movement."""
    return {"type": "area-status", "to": status}

# Standby roster and surge dispatch (issue 8).
ROSTER_BADGE = "roster-badge"
ROSTER_SEED = "roster-seed"
ROSTER_PAGE = "roster-page"
ROSTER_LIVE = "roster-live"
ROSTER_STANDBY_TOTAL = "roster-standby-total"
ROSTER_STANDBY_24H = "roster-standby-24h"
ROSTER_WARNING_COUNT = "roster-warning-count"
ROSTER_STANDBY = "roster-standby"
ROSTER_NEXT = "roster-next"
ROSTER_WARNINGS = "roster-warnings"
ROSTER_TIMELINE = "roster-timeline"
ROSTER_OFFICERS = "roster-officers"
ROSTER_LEAVE = "roster-leave"
ROSTER_PARTS = "roster-parts"
ROSTER_SLOTS = "roster-slots"  # the slots of the next 30 days (a grid; a duty officer selects one to change it)
# Changing the roster (crisis/ui/components/roster_editor.py): duty officers and administrators only.
ROSTER_EDIT = "roster-edit"
ROSTER_EDIT_MESSAGE = "roster-edit-message"
ROSTER_SELECTED = "roster-selected"
ROSTER_REPLACE_OFFICER = "roster-replace-officer"
ROSTER_SWAP_WITH = "roster-swap-with"
ROSTER_SLOT_REASON = "roster-slot-reason"
ROSTER_REPLACE = "roster-replace"
ROSTER_SWAP = "roster-swap"
ROSTER_REMOVE_ASK = "roster-remove-ask"
ROSTER_REMOVE_PANEL = "roster-remove-panel"
ROSTER_REMOVE_CONFIRM = "roster-remove-confirm"
ROSTER_REMOVE_KEEP = "roster-remove-keep"
ROSTER_NEW_OFFICER = "roster-new-officer"
ROSTER_NEW_REGION = "roster-new-region"
ROSTER_NEW_ROLE = "roster-new-role"
ROSTER_NEW_READINESS = "roster-new-readiness"
ROSTER_NEW_FROM = "roster-new-from"
ROSTER_NEW_UNTIL = "roster-new-until"
ROSTER_NEW_NOTE = "roster-new-note"
ROSTER_NEW_ADD = "roster-new-add"
ROSTER_LEAVE_OFFICER = "roster-leave-officer"
ROSTER_LEAVE_KIND = "roster-leave-kind"
ROSTER_LEAVE_FROM = "roster-leave-from"
ROSTER_LEAVE_UNTIL = "roster-leave-until"
ROSTER_LEAVE_NOTE = "roster-leave-note"
ROSTER_LEAVE_ADD = "roster-leave-add"
ROSTER_LEAVE_REMOVE = "roster-leave-remove"
ROSTER_ROT_OFFICERS = "roster-rot-officers"
ROSTER_ROT_REGION = "roster-rot-region"
ROSTER_ROT_PATTERN = "roster-rot-pattern"
ROSTER_ROT_FROM = "roster-rot-from"
ROSTER_ROT_WEEKS = "roster-rot-weeks"
ROSTER_ROT_PERIOD = "roster-rot-period"
ROSTER_ROT_HANDOVER = "roster-rot-handover"
ROSTER_ROT_READINESS = "roster-rot-readiness"
ROSTER_ROT_ALT_READINESS = "roster-rot-alt-readiness"
ROSTER_ROT_PREVIEW = "roster-rot-preview"
ROSTER_ROT_STORE = "roster-rot-store"
ROSTER_ROT_PLAN = "roster-rot-plan"
ROSTER_IMPORT = "roster-import"
ROSTER_EDIT_START = "roster-edit-start"
ROSTER_EDIT_END = "roster-edit-end"
ROSTER_EDIT_READINESS = "roster-edit-readiness"
ROSTER_EDIT_SAVE = "roster-edit-save"
ROSTER_IMPORT_RESULT = "roster-import-result"

DISPATCH_PAGE = "dispatch-page"
DISPATCH_LIVE = "dispatch-live"
DISPATCH_INCIDENT = "dispatch-incident"
DISPATCH_SKILLS = "dispatch-skills"
DISPATCH_LANGUAGES = "dispatch-languages"
DISPATCH_CANDIDATES = "dispatch-candidates"
DISPATCH_PICK = "dispatch-pick"
DISPATCH_CONFIRM_PANEL = "dispatch-confirm-panel"
DISPATCH_NOTE = "dispatch-note"
DISPATCH_CONFIRM = "dispatch-confirm"
DISPATCH_CANCEL = "dispatch-cancel"
DISPATCH_MESSAGE = "dispatch-message"
DISPATCH_ACTIVE = "dispatch-active"

INCIDENT_DISPATCH_LINK = "incident-dispatch-link"
INCIDENT_COMING = "incident-coming"
INCIDENT_COMING_LIVE = "incident-coming-live"
INCIDENT_COMING_ID = "incident-coming-id"
MAP_COMING = "map-coming"


def dispatch_send(officer_id: Any) -> dict[str, Any]:
    """Pattern-matching id of the "Send" button of a ranked candidate."""
    return {"type": "dispatch-send", "officer": officer_id}


def dispatch_step(dispatch_id: Any, status: Any) -> dict[str, Any]:
    """Pattern-matching id of the button that moves a dispatch to its next ``status``."""
    return {"type": "dispatch-step", "dispatch": dispatch_id, "to": status}


def attrs(values: dict[str, str]) -> dict[str, Any]:
    """``data-*`` attributes for a Dash html component (``**ids.attrs({...})``), typed loosely."""
    return dict(values)
