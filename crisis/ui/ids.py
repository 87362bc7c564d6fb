"""Component ids shared between the shell, the pages and assets/crisis_live.js."""

LIVE_CONFIG = "live-config"
LIVE_SIGNAL = "live-signal"
LIVE_STATUS = "live-status"
LIVE_AGE = "live-age"
LIVE_COUNTS = "live-counts"

MAP = "live-map"
MAP_MOUNTED = "map-mounted"
INCIDENT_LIST = "incident-list"
