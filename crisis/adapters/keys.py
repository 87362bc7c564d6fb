"""Every Redis key the product uses, in one place."""

PREFIX = "crisis"

INCIDENT_STREAM = f"{PREFIX}:log:incidents"
POSITION_STREAM = f"{PREFIX}:log:positions"
TRAVELLERS_STREAM = f"{PREFIX}:log:travellers"  # one event per traveller import batch
DEADLETTER_STREAM = f"{PREFIX}:deadletter"

INCIDENT_INDEX = f"{PREFIX}:incidents"  # set of incident ids
INCIDENT_SOURCE_INDEX = f"{PREFIX}:incidents:by-source"  # hash "source|source_id" -> id
TRAVELLERS = f"{PREFIX}:travellers"  # hash id -> JSON profile
POSITIONS = f"{PREFIX}:positions"  # hash id -> JSON [lat, lon, time, source, country, region, time in Unix s]

USERS = f"{PREFIX}:users"  # hash name -> JSON {password_hash, role, region}
TOKENS = f"{PREFIX}:tokens"  # hash sha256(token) -> JSON {name, role, region}
FEED_STATS = f"{PREFIX}:feeds"  # prefix: hash per feed
# Set of every FeedLog name that has refused a message ("api:list_incidents", "socket:sync", ...):
# the feed health report counts each in a row (crisis.feeds.health.feed_of), listed or not.
FEED_REFUSED_NAMES = f"{PREFIX}:feed-names:refused"


def incident(incident_id: str) -> str:
    return f"{PREFIX}:incident:{incident_id}"


def incident_history(incident_id: str) -> str:
    return f"{PREFIX}:incident:{incident_id}:history"


def source_key(source: str, source_id: str) -> str:
    return f"{source}|{source_id}"


def consumer_checkpoint(group: str) -> str:
    return f"{PREFIX}:consumer:{group}"


def feed_stats(feed: str) -> str:
    return f"{FEED_STATS}:{feed}"


def feed_minute_counts(feed: str, outcome: str) -> str:
    return f"{FEED_STATS}:{feed}:{outcome}:per-minute"

AUDIT_STREAM = f"{PREFIX}:audit"  # append-only audit trail, trimmed by age only
# Pub/sub channel: an account changed (user or token added, changed, disabled, removed,
# revoked, signed out everywhere). Message: JSON {"kind": "user"|"token", "name": ...}.
# Web processes re-check the principals of their open sockets on it.
ACCOUNT_CHANGES = f"{PREFIX}:accounts:changed"
LIMITS_PREFIX = f"{PREFIX}:limits"  # Flask-Limiter's keys


def token_used(day: str, digest: str) -> str:
    """Marks that a token (by digest) was used on a UTC day (for the audit's first use)."""
    return f"{TOKENS}:used:{day}:{digest}"

# --- people: check-ins, accountability, security areas, movements, handsets ----------
# One stream for every change to a person's accountability status (a duty officer's
# mark, a check-in), one for security areas (created, phase changed, movement confirmed,
# a person's movement progress). Each web process's gateway tails both.
PEOPLE_STREAM = f"{PREFIX}:log:people"
AREAS_STREAM = f"{PREFIX}:log:areas"
CHECKIN_PLACES = f"{PREFIX}:checkins:places"  # hash traveller id -> JSON [lat, lon, ISO time] of the latest check-in with a place
DEVICES = f"{PREFIX}:devices"  # hash CoT uid -> JSON {traveller_id, added_at, added_by}
DEVICE_SEEN = f"{PREFIX}:devices:seen"  # hash CoT uid -> JSON {time, lat, lon, fix} of the latest event
DEVICES_STREAM = f"{PREFIX}:log:devices"  # device table changes (added, removed)
AREA_INDEX = f"{PREFIX}:areas"  # hash area id -> JSON area
# Set once by the first web process that loads the live people picture; gone after a flush
# (the picture then reloads). crisis.adapters.picture_epoch
PICTURE_EPOCH = f"{PREFIX}:people:picture-epoch"


def roll(scope: str) -> str:
    """Accountability statuses in one scope ("incident:<id>" or "area:<id>"): hash
    traveller id -> JSON {status, at, by, note, via}."""
    return f"{PREFIX}:roll:{scope}"


def roll_history(scope: str) -> str:
    """Every status change in one scope, oldest first (a stream): the burn-down's source."""
    return f"{PREFIX}:roll:{scope}:history"


def movement(area_id: str) -> str:
    """An area's current movement (relocation or evacuation): JSON, with each person's progress."""
    return f"{PREFIX}:area:{area_id}:movement"


def movement_history(area_id: str) -> str:
    """An area's closed movements, oldest first (a list of JSON movements): kept, never deleted."""
    return f"{PREFIX}:area:{area_id}:movements"


# --- standby roster and surge dispatch (issue 8) --------------------------------------
# One stream for every roster change: officers imported, slots added/changed/removed,
# rotations generated, leave, swaps and overrides, dispatches and their steps. Each web
# process's gateway tails it (crisis.realtime.roster_push).
ROSTER_STREAM = f"{PREFIX}:log:roster"
OFFICERS = f"{PREFIX}:roster:officers"  # hash officer id -> JSON officer
SLOTS = f"{PREFIX}:roster:slots"  # hash slot id -> JSON slot
LEAVE = f"{PREFIX}:roster:leave"  # hash leave id -> JSON leave period
DISPATCHES = f"{PREFIX}:roster:dispatches"  # hash dispatch id -> JSON dispatch (with its steps)

# --- shift log (issue 9) ----------------------------------------------------------------
# The duty officers' free notes, append-only (crisis.adapters.shiftlog_store); the automatic
# entries are read from the incidents' histories and the audit trail, not copied here.
SHIFTLOG_NOTES = f"{PREFIX}:log:shiftlog"

# --- the feeds inbox (issue 10, crisis.feeds.inbox) -------------------------------------
# Fetched feed documents and CoT datagrams wait here until the consumer group "intake" has
# taken them in; an entry is deleted when acknowledged, so the stream holds only work to do.
FEED_INBOX = f"{PREFIX}:feeds:inbox"
FEED_INBOX_GROUP = "intake"


def inbox_done(entry_id: str) -> str:
    """The steps of an inbox entry already applied (hash step -> result), while it is in flight."""
    return f"{FEED_INBOX}:done:{entry_id}"
