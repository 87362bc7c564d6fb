"""Component ids shared between the shell, the pages and assets/crisis_live.js."""

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
