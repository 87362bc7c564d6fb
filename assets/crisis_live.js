/* The browser end of the live picture.
 *
 * One Socket.IO connection per page (namespace /live) keeps the incidents and traveller
 * positions in memory. Incoming incident messages only mark what changed; at most every
 * 60 ms a signal goes to Dash (set_props on the live-signal store), whose clientside
 * callbacks return Patch objects for the map's incident trace (the incident list is drawn by
 * assets/crisis_workspace.js, through onIncident). No
 * server callback runs per pushed event. On reconnect the client sends the last incident
 * and positions stream ids it applied and the scope its picture was built for; the server
 * replays what was missed (or sends a snapshot) and sends the positions changed since (or
 * all of them).
 *
 * Travellers are not a Plotly trace (docs/adr/004-travellers-layer.md): they are a MapLibre
 * GeoJSON source of their own on the map object Plotly draws with, aggregated here into grid
 * cells at world and regional zoom (individual points closer in), updated at most every
 * TRAV_REDRAW_MS, and never through Dash. A new incident redraws only the small incident
 * trace. Colours follow the accountability status of the "people" messages.
 */
(function () {
  "use strict";

  var FLUSH_MS = 60;
  // No word from the server (data or heartbeat) for this long: STALE. The server sends a
  // heartbeat every HEARTBEAT_MS (crisis/realtime/gateway.py HEARTBEAT_SECONDS, passed in the
  // page's live config); 1.6 heartbeats lets one arrive up to 3 s late without a false alarm
  // and still shows STALE within 2 heartbeats (~10 s) of the server falling silent.
  var HEARTBEAT_MS = 5000;
  var STALE_AFTER_MS = 8000;
  var STATE_CHECK_MS = 250;   // how often the state is re-judged (a silent server sends no event)
  var BANNER_GRACE_MS = 3000; // a page just opened says nothing loud while it first connects

  var live = {
    config: null,
    socket: null,
    ready: false,
    connected: false,
    incidents: new Map(),      // incident id -> message {stream_id, incident, display_area, colour}
    lastIncidentId: null,      // newest incident stream id applied
    lastPositionsId: null,     // newest positions stream id applied
    // What the next sync asks from: everything up to these was received. They move with
    // live pushes only once this connection's sync has answered: pushes that arrive before
    // it may be newer than a replay still to come, and a link lost then must not skip it.
    cursorIncidentId: null,
    cursorPositionsId: null,
    synced: false,             // this connection's sync answered (live pushes follow its replay)
    scope: null,               // what the picture shows (the server's room), from the last snapshot
    // Travellers as columns; k is a traveller's row. rank: the colour (STATUS_RANK), aff: 1 when
    // affected by an open incident or movement, src: SOURCES index of its best-known position,
    // at: epoch seconds of that position (from "people"; else when its report arrived here).
    trav: newTravellers(4096),
    identities: true,          // whether the ids are traveller ids (false: a wall's pseudonyms)
    feeds: null,               // the latest feed health report {feeds: {name: row}, checked_at}
    dirty: {incidents: false, feeds: false, redraw: false},
    mapSentAt: null,
    rev: 0,
    incRev: 0,                 // bumped whenever the incidents changed
    drawn: {inc: -1, areas: {}},  // what the map's incident trace (incRev) and area layers show now
    pendingAreas: {},          // severity -> area FeatureCollection for the next map redraw (applyAreas)
    flushTimer: null,
    flushedAt: 0,              // when the last signal went to Dash
    lastDataAt: null,          // when the newest data (incident or positions) arrived
    lastHeardAt: null,         // when the server last said anything (data or heartbeat)
    lastError: null,
    status: null,              // "live" | "stale" | "reconnecting" (null before the first judgement)
    startedAt: Date.now(),     // when this page started (the banner's first-connection grace)
    downSince: null,           // when the connection was lost (null while connected)
    storageDownSince: null,    // H1: the server's storage (Redis) unavailable since (ms), from the heartbeat; null: it answers
    everConnected: false,
    shown: {}                  // what the header and banner show now (set_props only on change)
  };

  // Hooks (the contract of window.crisisLive): fn(msg) after every applied incident message,
  // live or from a snapshot or replay; fn(state) on every change of the connection state.
  var incidentHooks = [];
  var statusHooks = [];

  function onIncident(fn) { incidentHooks.push(fn); }

  // fn is also called once at once with the current state when there is one.
  function onStatus(fn) {
    statusHooks.push(fn);
    if (live.status !== null) { try { fn(live.status); } catch (err) { console.error(err); } }
  }

  function compareIds(a, b) {
    var pa = a.split("-"), pb = b.split("-");
    var d = Number(pa[0]) - Number(pb[0]);
    return d !== 0 ? d : Number(pa[1] || 0) - Number(pb[1] || 0);
  }

  function heard(isData) {
    live.lastHeardAt = Date.now();
    if (isData) { live.lastDataAt = live.lastHeardAt; }
  }

  function applyIncident(msg) {
    var id = msg.incident.id;
    var prev = live.incidents.get(id);
    if (prev && compareIds(prev.stream_id, msg.stream_id) > 0) { return; }  // older than what we show
    live.incidents.set(id, msg);
    if (!live.lastIncidentId || compareIds(msg.stream_id, live.lastIncidentId) > 0) {
      live.lastIncidentId = msg.stream_id;
    }
    if (live.synced) { live.cursorIncidentId = newest(live.cursorIncidentId, msg.stream_id); }
    live.dirty.incidents = true;
    for (var h = 0; h < incidentHooks.length; h++) {
      try { incidentHooks[h](msg); } catch (err) { console.error(err); }
    }
  }

  // -- travellers: columns in memory -------------------------------------------------------

  // Accountability status -> colour rank: the worst of a cluster is its colour (MapLibre's
  // clusterProperties "max"). "none": not affected by any open incident or movement.
  var STATUSES = ["none", "safe", "no_response", "unsure", "unreachable", "needs_help"];
  var STATUS_RANK = {none: 0, safe: 1, no_response: 2, unsure: 3, unreachable: 4, needs_help: 5};
  var STATUS_COLOURS = ["#1f4e79", "#1a7f37", "#7b8794", "#e0a100", "#7a0177", "#d7191c"];
  var STATUS_LABELS = ["not affected", "safe", "no response", "unsure", "unreachable", "NEEDS HELP"];
  var SOURCES = ["", "report", "checkin", "itinerary", "duty_station", "cot"];
  var SOURCE_LABELS = ["position report", "position report", "check-in", "itinerary", "duty station", "handset (CoT)"];

  function newTravellers(size) {
    return {index: new Map(), ids: [], n: 0, placed: 0, lat: new Float32Array(size), lon: new Float32Array(size),
            rank: new Uint8Array(size), aff: new Uint8Array(size), src: new Uint8Array(size),
            at: new Float64Array(size)};
  }

  function grow(t, needed) {
    if (needed <= t.lat.length) { return; }
    var size = t.lat.length;
    while (size < needed) { size *= 2; }
    ["lat", "lon", "rank", "aff", "src", "at"].forEach(function (name) {
      var bigger = new t[name].constructor(size);
      bigger.set(t[name].subarray(0, t.n));
      t[name] = bigger;
    });
  }

  // The row of a traveller (a new one, not placed yet, when unknown).
  function row(t, id) {
    var k = t.index.get(id);
    if (k === undefined) {
      grow(t, t.n + 1);
      k = t.n++;
      t.index.set(id, k);
      t.ids.push(id);
      t.lat[k] = NaN;
      t.lon[k] = NaN;
      t.rank[k] = 0; t.aff[k] = 0; t.src[k] = 0; t.at[k] = 0;
    }
    return k;
  }

  function applyPositions(msg) {
    var t = live.trav;
    var lat = new Float32Array(msg.lat), lon = new Float32Array(msg.lon);
    if (msg.full) {
      // A new picture of the scope: keep what "people" said of those still in it.
      var old = t;
      t = live.trav = newTravellers(Math.max(4096, msg.ids.length));
      travLayer.full = true;
      travLayer.keepFrom = old;
    }
    if (msg.full || !live.lastPositionsId || compareIds(msg.stream_id, live.lastPositionsId) > 0) {
      live.lastPositionsId = msg.stream_id;
    }
    if (live.synced) {  // a full one replaces the picture: its id, not a newer one of before
      live.cursorPositionsId = msg.full ? msg.stream_id : newest(live.cursorPositionsId, msg.stream_id);
    }
    if (msg.scope) {
      live.scope = msg.scope;
      live.identities = msg.scope.indexOf("view:") !== 0;
    }
    grow(t, t.n + msg.ids.length);
    var sentAt = typeof msg.sent_at === "number" ? msg.sent_at : Date.now() / 1000;
    var keep = travLayer.keepFrom;
    for (var i = 0; i < msg.ids.length; i++) {
      var known = t.index.has(msg.ids[i]);
      var k = row(t, msg.ids[i]);
      if (!known && keep) {
        var j = keep.index.get(msg.ids[i]);
        if (j !== undefined) { t.rank[k] = keep.rank[j]; t.aff[k] = keep.aff[j]; t.src[k] = keep.src[j]; t.at[k] = keep.at[j]; }
      }
      if (t.lat[k] !== t.lat[k]) { t.placed += 1; }  // NaN: not placed until now
      t.lat[k] = lat[i];
      t.lon[k] = lon[i];
      if (t.src[k] === 0 || t.src[k] === 1 || t.src[k] === 5) { t.at[k] = sentAt; }  // a report: this one
      travLayer.dirty.add(k);
    }
    travLayer.keepFrom = null;
    scheduleTravellers();
  }

  // "people" (crisis:people): {ids, status, affected, source, at} of those that changed;
  // with "full": everyone in a scope now (the answer to "people").
  function applyPeople(msg) {
    if (!msg || !Array.isArray(msg.ids)) { return; }
    var t = live.trav;
    if (msg.full) {
      // Whoever it leaves out is in no scope now (an incident closed while this page was
      // away, a status a failed-over server never had): their colour goes too.
      for (var r = 0; r < t.n; r++) {
        if (t.rank[r] || t.aff[r]) { t.rank[r] = 0; t.aff[r] = 0; travLayer.dirty.add(r); }
      }
    }
    for (var i = 0; i < msg.ids.length; i++) {
      var k = row(t, msg.ids[i]);
      var status = msg.status ? msg.status[i] : null;
      var affected = msg.affected ? !!msg.affected[i] : false;
      t.rank[k] = STATUS_RANK[status] !== undefined ? STATUS_RANK[status] : 0;
      t.aff[k] = affected ? 1 : 0;
      var src = msg.source ? SOURCES.indexOf(msg.source[i]) : -1;
      if (src > 0) { t.src[k] = src; }
      if (msg.at && typeof msg.at[i] === "number") { t.at[k] = msg.at[i]; }
      // The best-known position: places people no position report has placed yet.
      if (msg.lat && typeof msg.lat[i] === "number" && typeof msg.lon[i] === "number") {
        if (t.lat[k] !== t.lat[k]) { t.placed += 1; }
        t.lat[k] = msg.lat[i];
        t.lon[k] = msg.lon[i];
      }
      travLayer.dirty.add(k);
    }
    scheduleTravellers();
  }

  // The first change after a quiet FLUSH_MS goes at once (a new incident is not held back 60 ms);
  // what follows within FLUSH_MS (a burst, a replay) goes together FLUSH_MS later.
  function scheduleFlush() {
    if (live.flushTimer !== null) { return; }
    live.flushTimer = setTimeout(flush, Date.now() - live.flushedAt >= FLUSH_MS ? 0 : FLUSH_MS);
  }

  function flush() {
    live.flushTimer = null;
    var d = live.dirty;
    if (!live.ready || !(d.incidents || d.feeds || d.redraw)) { return; }
    live.flushedAt = Date.now();
    live.rev += 1;
    if (d.incidents) { live.incRev += 1; }
    var signal = {rev: live.rev, incidents: d.incidents, feeds: d.feeds,
                  stream_id: live.lastIncidentId, count: live.incidents.size, travellers: live.trav.n};
    live.dirty = {incidents: false, feeds: false, redraw: false};
    window.dash_clientside.set_props("live-signal", {data: signal});
  }

  // -- connection state: exactly one of LIVE / STALE / RECONNECTING at a time ---------------
  // LIVE: connected and the server heard within STALE_AFTER_MS; STALE: connected but the
  // server silent (frozen, overloaded, a proxy holding the connection); RECONNECTING: not
  // connected. The header's #live-status says the one word, #live-age only the age (never a
  // second state word), and the shell's #live-banner says it loud on every page when not live.
  var STATUS_WORDS = {live: "LIVE", stale: "STALE", reconnecting: "RECONNECTING"};
  var STATUS_CLASSES = {live: "ok", stale: "stale", reconnecting: "down"};

  function judge(now) {
    if (!live.connected) { return "reconnecting"; }
    var silent = live.lastHeardAt === null ? 0 : now - live.lastHeardAt;
    return silent > STALE_AFTER_MS ? "stale" : "live";
  }

  function show(id, props) {
    var key = JSON.stringify(props);
    if (live.shown[id] === key) { return; }
    live.shown[id] = key;
    window.dash_clientside.set_props(id, props);
  }

  function bannerText(state, now) {
    if (state === "stale") {
      var silent = live.lastHeardAt === null ? 0 : now - live.lastHeardAt;
      return ["STALE", "No word from the server for " + fmtAge(silent) +
              ". What is shown may be out of date."];
    }
    var since = live.downSince === null ? 0 : now - live.downSince;
    return ["RECONNECTING", (live.everConnected ? "The connection to the server was lost " + fmtAge(since) + " ago"
                                                 : "Not connected to the server yet") +
            ". What is shown may be out of date; it catches up by itself once connected."];
  }

  function refreshStatus() {
    var now = Date.now();
    var state = judge(now);
    show("live-status", {children: STATUS_WORDS[state], className: "live-status " + STATUS_CLASSES[state]});
    var quiet = state === "live" || (!live.everConnected && now - live.startedAt < BANNER_GRACE_MS);
    var storage = live.storageDownSince === null ? "ok" : "unavailable";
    if (document.body && document.body.getAttribute("data-storage") !== storage) { document.body.setAttribute("data-storage", storage); }
    if (state === "live" && storage !== "ok") {
      // H1: connected, but the server cannot reach its storage: nothing can be saved.
      show("live-banner", {children: "STORAGE UNAVAILABLE: the server cannot reach its storage (for " +
                           fmtAge(now - live.storageDownSince) + "). Changes cannot be saved and what is shown " +
                           "may be out of date; it recovers by itself.", className: "live-banner down"});
    } else if (quiet) {
      show("live-banner", {children: "", className: "live-banner hidden"});
    } else {
      var words = bannerText(state, now);
      show("live-banner", {children: words[0] + ": " + words[1], className: "live-banner " + STATUS_CLASSES[state]});
    }
    if (document.body && document.body.getAttribute("data-live") !== state) { document.body.setAttribute("data-live", state); }
    if (state !== live.status) {
      live.status = state;
      for (var h = 0; h < statusHooks.length; h++) {
        try { statusHooks[h](state); } catch (err) { console.error(err); }
      }
    }
    updateAge(now, state);
  }

  function fmtAge(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min " + (s % 60) + " s"; }
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // The age of the newest data (whole seconds, so it changes once a second at most).
  function updateAge(now, state) {
    var text = "no data yet", cls = "waiting";
    if (live.lastDataAt !== null) {
      text = "newest data " + fmtAge(now - live.lastDataAt) + " ago";
      cls = state === "live" ? "fresh" : "old";
    }
    show("live-age", {children: text, className: "live-age " + cls});
  }

  function newest(a, b) {
    if (!a) { return b || null; }
    if (!b) { return a; }
    return compareIds(a, b) >= 0 ? a : b;
  }

  function sync(socket) {
    live.synced = false;
    var ask = {last_id: live.cursorIncidentId, positions_id: live.cursorPositionsId, scope: live.scope};
    socket.emit("sync", ask, function (ack) {
      if (ack && ack.error === "rate limited") {
        setTimeout(function () { if (socket.connected) { sync(socket); } }, 1000 * (ack.retry_after || 1));
        return;
      }
      if (ack && !ack.error) {
        // The replay (or snapshot) came before this answer, up to ack.stream_id; every live
        // push received on this connection is newer than that: all up to the newest id seen
        // is here now.
        live.cursorIncidentId = newest(ack.stream_id, live.lastIncidentId);
        live.cursorPositionsId = newest(ack.positions_id, live.lastPositionsId);
        live.synced = true;
        // Back after a disconnection: the incidents and positions are replayed, but what the
        // page scripts hold from other pushes (an incident's affected counts, movements,
        // dispatches, the roster) missed whatever was sent meanwhile: they re-read it
        // (crisis:reread, as after a failover's reset).
        if (live.syncedOnce) { document.dispatchEvent(new CustomEvent("crisis:reread", {detail: {why: "resynced"}})); }
        live.syncedOnce = true;
      }
      live.ready = true;
      heard(false);
      scheduleFlush();
      // Everyone in an incident or a movement now, with their status and best-known
      // position: the colours (and the people placed only by other evidence) at once,
      // not only as they change.
      askPeople(socket);
    });
  }

  // "people" asked of the server: everyone in a scope now (full), which replaces the colours.
  function askPeople(socket) {
    socket.emit("people", function (answer) {
      if (answer && Array.isArray(answer.ids)) { applyPeople(answer); }
    });
  }

  // After a reset snapshot: nothing this page holds from the old server stays. The ids it
  // would resync from are the new server's; the travellers go (a full "positions" follows
  // the snapshot, and "people" is asked again); page scripts re-read what they show
  // (crisis:reread: people and roll-call pages, areas and movements, roster, dispatches).
  function resetPicture(socket, msg) {
    live.cursorIncidentId = msg.stream_id;
    live.cursorPositionsId = null;
    live.trav = newTravellers(4096);
    travLayer.full = true;
    travLayer.keepFrom = null;
    scheduleTravellers();
    askPeople(socket);
    document.dispatchEvent(new CustomEvent("crisis:reset", {detail: {stream_id: msg.stream_id, scope: msg.scope || null}}));
    document.dispatchEvent(new CustomEvent("crisis:reread", {detail: {why: "reset"}}));
  }

  function start(config) {
    if (live.socket) { return; }
    live.config = config;
    if (typeof config.heartbeat_seconds === "number" && config.heartbeat_seconds > 0) {
      HEARTBEAT_MS = config.heartbeat_seconds * 1000;
      STALE_AFTER_MS = Math.max(1.6 * HEARTBEAT_MS, HEARTBEAT_MS + 2000);
    }
    var socket = window.io(config.namespace, {
      // Called on every (re)connection: the session cookie authenticates browsers;
      // a token in the config is for kiosk pages opened with one. "sync": this page syncs
      // as soon as it is connected, so the server sends no live incident before the replay
      // of what it missed (in stream order after a reconnection).
      auth: function (cb) { cb(config.token ? {token: config.token, sync: true} : {sync: true}); }
    });
    live.socket = socket;
    socket.on("connect", function () {
      live.connected = true;
      live.everConnected = true;
      live.downSince = null;
      heard(false);
      refreshStatus();
      sync(socket);
    });
    socket.on("disconnect", function (reason) {
      live.connected = false;
      live.synced = false;
      live.lastError = reason;
      if (live.downSince === null) { live.downSince = Date.now(); }
      refreshStatus();
    });
    socket.on("connect_error", function (err) {
      live.connected = false;
      live.lastError = err.message;
      if (live.downSince === null) { live.downSince = Date.now(); }
      refreshStatus();
    });
    socket.on("snapshot", function (msg) {
      // The picture as of msg.stream_id. A live push newer than that may have overtaken it on
      // the way (sent while the server was still reading the snapshot): it stays, or it would
      // vanish until its next update. A "reset" snapshot (another Redis server behind the
      // log: a failover) replaces everything: the old server's entries may never have
      // existed on the new one, whatever their ids.
      var kept = new Map();
      if (!msg.reset && (!msg.scope || !live.scope || msg.scope === live.scope)) {
        live.incidents.forEach(function (m, id) {
          if (compareIds(m.stream_id, msg.stream_id) > 0) { kept.set(id, m); }
        });
      }
      live.incidents = kept;
      live.lastIncidentId = null;
      kept.forEach(function (m) { live.lastIncidentId = newest(live.lastIncidentId, m.stream_id); });
      if (msg.scope) { live.scope = msg.scope; }
      msg.incidents.forEach(applyIncident);
      if (!live.lastIncidentId || compareIds(msg.stream_id, live.lastIncidentId) > 0) {
        live.lastIncidentId = msg.stream_id;
      }
      if (msg.reset) { resetPicture(socket, msg); }
      live.dirty.incidents = true;
      heard(true);
      scheduleFlush();
    });
    socket.on("incident", function (msg) { applyIncident(msg); heard(true); scheduleFlush(); });
    // Too far behind (a slow link or a busy page): the server stopped sending incidents and
    // positions to this socket; ask again from the last ones applied, as after a reconnection.
    socket.on("resync", function () { heard(false); sync(socket); });
    // Positions never go through Dash: the travellers layer takes them (throttled).
    socket.on("positions", function (msg) { applyPositions(msg); heard(true); });
    // People, areas and movements: re-announced on the page as DOM events
    // ("crisis:affected", ...), for the page scripts that show them.
    ["affected", "people", "areas", "accountability", "movement", "roster", "dispatch"].forEach(function (name) {
      socket.on(name, function (msg) {
        heard(true);
        document.dispatchEvent(new CustomEvent("crisis:" + name, {detail: msg}));
      });
    });
    socket.on("heartbeat", function (msg) {
      heard(false);
      // H1: the heartbeat says whether the server's storage answers (sent at once when that changes).
      var down = !!(msg && msg.storage === "unavailable");
      if (down !== (live.storageDownSince !== null)) {
        live.storageDownSince = down ? Date.now() : null;  // this clock, not the server's: no skew
        refreshStatus();
      } else if (live.status !== "live") { refreshStatus(); }
    });
    socket.on("feeds", function (msg) { live.feeds = msg; live.dirty.feeds = true; heard(false); scheduleFlush(); });
    setInterval(refreshStatus, STATE_CHECK_MS);
    refreshStatus();
  }

  function openIncidents() {
    var out = [];
    live.incidents.forEach(function (m) { if (m.incident.status !== "closed") { out.push(m); } });
    return out;
  }

  // dcc.Graph queues a figure that arrives while it is still drawing the previous one and
  // draws it later, even when the graph has been taken off the page meanwhile (an uncaught
  // "reading 'classList'" error). So the map gets no new patch until the last one is drawn
  // (the Plotly.react guard below clears mapSentAt); what came in meanwhile is drawn right
  // after, in one patch, and stale frames never queue up. A patch that was never drawn
  // (the page left first) stops holding the next one back after MAP_DRAW_MAX_MS.
  var MAP_DRAW_MAX_MS = 5000;

  // A button pressed on the map: a redraw now would stop the user's gesture before it has moved
  // past MapLibre's click tolerance (Plotly's redraw sets the map's view), so patches wait for
  // the release, at most PRESS_HOLD_MAX_MS (no update waits on a button held down for long).
  var PRESS_HOLD_MAX_MS = 5000;
  var pressedAt = null;
  document.addEventListener("pointerdown", function (e) {
    if (e.target && e.target.closest && e.target.closest("#live-map")) { pressedAt = Date.now(); }
  }, true);
  ["pointerup", "pointercancel"].forEach(function (kind) {
    document.addEventListener(kind, function () { pressedAt = null; }, true);
  });
  function userPressing() { return pressedAt !== null && Date.now() - pressedAt < PRESS_HOLD_MAX_MS; }

  function mapBusy() {
    if (live.mapSentAt !== null && Date.now() - live.mapSentAt < MAP_DRAW_MAX_MS) { return true; }
    return document.querySelector("#live-map.dash-graph--pending, #live-map .dash-graph--pending") !== null;
  }

  function redrawSoon() {
    live.dirty.redraw = true;
    scheduleFlush();
  }

  // The MapLibre source Plotly draws an area layer (severity s) from, or null (no map yet).
  function areaSource(s) {
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    if (!sub || !sub.map || !live.config || typeof live.config.area_layer_first !== "number") { return null; }
    var index = live.config.area_layer_first + s - 1;
    var layer = sub.layerList && sub.layerList[index];
    var id = layer && layer.idSource ? layer.idSource : "source-" + sub.uid + "-" + index;
    try {
      var source = sub.map.getSource(id);
      return source && typeof source.setData === "function" ? source : null;
    } catch (err) {  // a map being removed
      return null;
    }
  }

  // New incident areas go straight into the sources of Plotly's area layers (setData), in the
  // same task as Plotly's redraw of the markers (the guarded Plotly.react), not through the
  // figure: a layout layer whose source is assigned is removed and added again by Plotly with
  // a new source, whose tiles load one worker round after the markers', a map frame more per
  // incident with an area (BENCHMARKS.md section 8). With setData both updates are in the
  // worker together and the frame gate (crisis_live_frames.js) draws them in one frame.
  // Plotly keeps the figure's layer source as it was, so a later redraw leaves the layer alone.
  function applyAreas() {
    var done = true;
    Object.keys(live.pendingAreas).forEach(function (s) {
      var source = areaSource(Number(s));
      if (!source) { done = false; return; }
      source.setData(live.pendingAreas[s]);
      delete live.pendingAreas[s];
    });
    return done;
  }

  // The map's zoom now (the figure's before the map exists).
  function mapZoom() {
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    if (sub && sub.map && typeof sub.map.getZoom === "function") { return sub.map.getZoom(); }
    var layout = gd && gd.layout && gd.layout.map;
    if (layout && typeof layout.zoom === "number") { return layout.zoom; }
    return live.mounted && typeof live.mounted.zoom === "number" ? live.mounted.zoom : 1.2;
  }

  // The incidents as places (one marker each: assets/crisis_places.js) at the map's zoom now;
  // computed again only when the incidents or the zoom changed. Null on the wall (it stacks
  // its own markers) or before crisis_places.js is in.
  var placesCache = {rev: -1, zoom: null, value: null};
  function currentPlaces(zoom) {
    if (!window.crisisPlaces || document.getElementById("wall-root") !== null) { return null; }
    if (typeof zoom !== "number") { zoom = mapZoom(); }
    if (placesCache.rev !== live.incRev || placesCache.zoom !== zoom) {
      var places = window.crisisPlaces.stack(openIncidents(), zoom);
      placesCache = {rev: live.incRev, zoom: zoom, value: {places: places, key: window.crisisPlaces.key(places)}};
    }
    return placesCache.value;
  }

  // Whether the places differ from what the incident trace shows (the zoom changed them).
  function placesMoved() {
    var now = currentPlaces();
    return now !== null && live.drawn.places !== undefined && now.key !== live.drawn.places;
  }

  // The place's worst incident for a click on any incident of it.
  function worstAt(id) {
    var worst = live.drawn.worst && live.drawn.worst.get(id);
    return worst ? worst.worst : id;
  }

  function showPlaces() {
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    if (window.crisisPlaces && sub && sub.map) { window.crisisPlaces.showCounts(sub.map, live.drawn.stacked); }
  }

  function mapPatch() {
    var cfg = live.config;
    var Patch = window.dash_clientside.Patch;
    var patch = new Patch();
    // The wall draws its markers itself (assets/crisis_wall.js) and hides the trace: no
    // Plotly redraw there for a new incident, only its area (a map frame less on the wall).
    var trace = document.getElementById("wall-root") === null, redraw = trace;
    var open = openIncidents();
    var placed = trace ? currentPlaces() : null;
    if (placed && (live.drawn.inc !== live.incRev || placed.key !== live.drawn.places)) {
      // One marker per place: the others of a place transparent, every point its place's hover.
      var cols = window.crisisPlaces.columns(open, placed.places);
      patch.assign(["data", cfg.incident_trace, "hovertext"], cols.hovertext);
      patch.assign(["data", cfg.incident_trace, "marker", "opacity"], cols.opacity);
      patch.assign(["data", cfg.incident_trace, "marker", "size"], cols.size);
      live.drawn.places = placed.key;
      live.drawn.stacked = placed.places;
      live.drawn.worst = cols.worst;
      showPlaces();
    }
    if (live.drawn.inc !== live.incRev) {
      live.drawn.inc = live.incRev;
      if (trace) {
        patch.assign(["data", cfg.incident_trace, "lat"], open.map(function (m) { return m.incident.lat; }));
        patch.assign(["data", cfg.incident_trace, "lon"], open.map(function (m) { return m.incident.lon; }));
        patch.assign(["data", cfg.incident_trace, "customdata"], open.map(function (m) { return m.incident.id; }));
        patch.assign(["data", cfg.incident_trace, "text"], open.map(function (m) {
          return m.incident.title + " (severity " + m.incident.severity + ", " + m.incident.status + ")";
        }));
        patch.assign(["data", cfg.incident_trace, "marker", "color"], open.map(function (m) { return m.colour; }));
      }
      // Only the area layers that changed (see applyAreas).
      for (var s = 1; s <= 5; s++) {
        var features = open.filter(function (m) { return m.display_area && m.incident.severity === s; })
          .map(function (m) { return {type: "Feature", geometry: m.display_area, properties: {id: m.incident.id}}; });
        var areas = JSON.stringify(features);
        if (live.drawn.areas[s] === areas) { continue; }
        live.drawn.areas[s] = areas;
        var collection = {type: "FeatureCollection", features: features};
        if (areaSource(s)) {
          live.pendingAreas[s] = collection;
        } else {  // no map source to set (yet): through the figure, as Plotly's own layer
          patch.assign(["layout", "map", "layers", cfg.area_layer_first + s - 1, "source"], collection);
          redraw = true;
        }
      }
    }
    if (!redraw) {
      applyAreas();
      return window.dash_clientside.no_update;
    }
    patch.assign(["layout", "datarevision"], live.rev);
    return patch.build();
  }

  // Whether the map's figure, drawn by the server at incident stream id mounted.head, already
  // shows what this page knows: every incident message applied here is no newer than that
  // (a snapshot's messages carry the head it was taken at; a picture behind the figure is
  // completed by the replay, and its next change patches from the whole picture).
  function figureCurrent(mounted) {
    if (!live.lastIncidentId) { return true; }
    return !!mounted.head && compareIds(live.lastIncidentId, mounted.head) <= 0;
  }

  // What the figure shows now, as mapPatch records it: the next patch sends only what differs.
  function markDrawn() {
    var open = openIncidents();
    live.drawn.inc = live.incRev;
    // The places the server drew (at the figure's zoom); when the map's zoom makes others,
    // or this page groups them otherwise, the next patch sends ours.
    var mounted = live.mounted || {};
    var placed = typeof mounted.places === "string" ? currentPlaces(mounted.zoom) : null;
    if (placed) {
      live.drawn.places = mounted.places;
      live.drawn.stacked = placed.key === mounted.places ? placed.places : [];
      live.drawn.worst = window.crisisPlaces.columns(open, live.drawn.stacked).worst;
      showPlaces();
      if (placesMoved()) { redrawSoon(); }
    }
    for (var s = 1; s <= 5; s++) {
      live.drawn.areas[s] = JSON.stringify(open.filter(function (m) { return m.display_area && m.incident.severity === s; })
        .map(function (m) { return {type: "Feature", geometry: m.display_area, properties: {id: m.incident.id}}; }));
    }
  }

  // The open-incident list is drawn by assets/crisis_workspace.js (in place, only what changed).

  // Plotly finishes a map redraw asynchronously (a burst of incidents redraws the map several
  // times a second). When the user leaves the page meanwhile, dcc.Graph purges the graph and the
  // rest of that redraw throws on it (for example "reading '_rangeSliderData'"). So a
  // purge waits until the graph's redraw in flight has settled; nothing is swallowed.
  function graphDiv(gd) {
    return typeof gd === "string" ? document.getElementById(gd) : gd;
  }

  function guardPlotly() {
    var P = window.Plotly;
    if (!P || P.react.__crisisGuarded) { return; }
    var react = P.react, purge = P.purge;
    P.react = function (gd) {
      var drawing = react.apply(P, arguments);
      var el = graphDiv(gd);
      var isMap = !!el && typeof el.closest === "function" && el.closest("#live-map") !== null;
      // The areas of this redraw, in the same task as Plotly's (see applyAreas).
      if (isMap) { applyAreas(); }
      if (el && drawing && typeof drawing.then === "function") {
        var settled = function () {
          if (el.__crisisDrawing === drawing) { el.__crisisDrawing = null; }
          if (isMap) { live.mapSentAt = null; }
        };
        el.__crisisDrawing = drawing;
        drawing.then(settled, settled);
      }
      return drawing;
    };
    P.react.__crisisGuarded = true;
    P.purge = function (gd) {
      var el = graphDiv(gd);
      if (el && el.__crisisDrawing) {
        var later = function () { P.purge(el); };
        el.__crisisDrawing.then(later, later);
        return el;
      }
      return purge.apply(P, arguments);
    };
  }

  // Whether a feed callback has something new to draw: on its page's first call, then
  // only when a new report came (signals come up to every 60 ms with incidents).
  function newFeedReport(signal) {
    var triggered = window.dash_clientside.callback_context.triggered_id;
    return live.feeds !== null && !(triggered && signal && !signal.feeds);
  }

  // -- travellers: the MapLibre layer -------------------------------------------------------

  var TRAV_SOURCE = "crisis-travellers";
  var TRAV_CLUSTERS = "crisis-travellers-clusters";
  var TRAV_POINTS = "crisis-travellers-points";
  var TRAV_REDRAW_MS = 1500;   // at most one layer update this often (the main thread stays idle)
  // MapLibre has one worker per two cores (one here) for every source, the incidents' too:
  // the next update waits until the last one is drawn, and for WORKER_SHARE_INVERSE times as
  // long as it took, so the worker stays free at least two thirds of the time for them.
  var WORKER_SHARE_INVERSE = 3;
  var IN_FLIGHT_MAX_MS = 15000;
  var CLUSTER_MAX_ZOOM = 6;    // from zoom 7 on, every traveller (in and around the view) is a point
  var TIP_MAX_PEOPLE = 50;

  var travLayer = {
    map: null,                 // the MapLibre map the layer is on (a new one per dcc.Graph)
    dirty: new Set(),          // rows changed since the last update
    full: true,                // aggregate again even with no row changed (a new map, picture or view)
    sent: new Uint8Array(0),   // rows placed when the layer was last computed
    view: null,                // {zoom, bounds} it was computed for
    drawn: null,               // {ids, lat, lon} it was computed from
    keepFrom: null,
    timer: null,
    lastAt: 0,
    sentAt: null,              // when the update in flight was sent (null: none in flight)
    workerMs: 0,               // how long the last update took until drawn (worker, tiles)
    looks: null,               // Map feature key -> what it looks like, as last sent (see looks())
    cells: new Map(),          // cell key -> its latest {n, r, a, h}, for the tooltip (see clusterLines())
    // updates: recomputations; full: those sent with setData; skipped: those that would have
    // drawn the same pixels, not sent (see updateTravellers); lastDiff: features sent last.
    stats: {updates: 0, full: 0, skipped: 0, diffs: 0, points: 0, lastMs: 0, maxMs: 0, totalMs: 0, lastDiff: 0, workerMs: 0, maps: 0}
  };

  function colourExpression() {
    var expr = ["match", ["get", "r"]];
    for (var r = 1; r < STATUS_COLOURS.length; r++) { expr.push(r, STATUS_COLOURS[r]); }
    expr.push(STATUS_COLOURS[0]);
    return expr;
  }

  function addTravellersLayer(map) {
    if (map.getSource(TRAV_SOURCE)) { return true; }
    try {
      map.addSource(TRAV_SOURCE, {
        type: "geojson",
        data: {type: "FeatureCollection", features: []}  // aggregated here: see aggregate()
      });
    } catch (err) {
      return false;  // the style is not loaded yet: "styledata" tries again
    }
    var before = firstTraceLayer(map);
    var affected = [">", ["get", "a"], 0];
    map.addLayer({
      id: TRAV_CLUSTERS, type: "circle", source: TRAV_SOURCE, filter: ["has", "point_count"],
      paint: {
        "circle-color": colourExpression(),
        "circle-opacity": 0.8,
        "circle-radius": ["interpolate", ["linear"], ["get", "point_count"], 2, 7, 100, 11, 1000, 16, 10000, 24, 50000, 30],
        "circle-stroke-width": ["case", affected, 3, 1],
        "circle-stroke-color": ["case", affected, "#b42318", "#ffffff"]
      }
    }, before);
    map.addLayer({
      id: TRAV_POINTS, type: "circle", source: TRAV_SOURCE, filter: ["!", ["has", "point_count"]],
      paint: {
        "circle-color": colourExpression(),
        "circle-opacity": 0.9,
        "circle-radius": ["case", affected, 6, 4],
        "circle-stroke-width": ["case", affected, 2, 0.5],
        "circle-stroke-color": ["case", affected, "#b42318", "#ffffff"]
      }
    }, before);
    travLayer.full = true;
    scheduleTravellers(true);
    return true;
  }

  // Incidents and people share colours (severity 4 and "needs help" are both red; 5 and
  // "unreachable" both purple): an incident's marker has a dark ring, a person's dot a white
  // or, when affected, a red one (the legend shows both; crisis/layers/preview.py draws the
  // same ring). Plotly's circle layer has no outline of its own: set on its MapLibre layer,
  // whose stroke follows each point's opacity (a stacked place's hidden members stay hidden).
  var INCIDENT_RING = {"circle-stroke-width": 2, "circle-stroke-color": "#111827"};

  function ringIncidents(map) {
    var uid = incidentUid(), id = uid && "plotly-trace-layer-" + uid + "-circle";
    if (!id || !map.getLayer(id)) { return false; }
    var want = Object.assign({"circle-stroke-opacity": map.getPaintProperty(id, "circle-opacity")}, INCIDENT_RING);
    Object.keys(want).forEach(function (name) {
      if (want[name] === undefined) { return; }
      if (JSON.stringify(map.getPaintProperty(id, name)) !== JSON.stringify(want[name])) {
        map.setPaintProperty(id, name, want[name]);
      }
    });
    return true;
  }

  // Plotly's trace layers (the incidents) stay on top of the travellers; the basemap and the
  // incident areas stay below them. The areas are each under a layer of the two traces
  // (crisis/layers/map_figure.py LAYER_BELOW, the last one under the incident markers'
  // circle layer): the travellers go right under that circle layer, so above every area.
  function firstTraceLayer(map) {
    var uid = incidentUid(), found;
    if (uid && map.getLayer("plotly-trace-layer-" + uid + "-circle")) { return "plotly-trace-layer-" + uid + "-circle"; }
    (map.getStyle().layers || []).some(function (l) {
      if (l.id.indexOf("plotly-trace-layer-") === 0) { found = l.id; return true; }
      return false;
    });
    return found;
  }

  // Moved only when out of place (above the markers, or under a basemap or area layer): a
  // layer moved is a map frame more.
  function keepLayerOrder(map) {
    if (!map.getLayer(TRAV_POINTS)) { return; }
    var ids = map.getStyle().layers.map(function (l) { return l.id; });
    var before = firstTraceLayer(map);
    var at = before ? ids.indexOf(before) : ids.length;
    var points = ids.indexOf(TRAV_POINTS), under = false;
    for (var i = points + 1; i < ids.length; i++) {
      if (ids[i].indexOf("plotly-layout-layer-") === 0) { under = true; break; }
    }
    if (points > at || ids[points - 1] !== TRAV_CLUSTERS || under) {
      map.moveLayer(TRAV_CLUSTERS, before);
      map.moveLayer(TRAV_POINTS, before);
    }
  }

  // What the layer gets: at world and regional zoom (up to CLUSTER_MAX_ZOOM) one feature per
  // CELL_PX grid cell of the map at the current whole zoom level, with how many it holds, the
  // worst status, how many are affected and how many need help; a cell holding one traveller
  // is that traveller. Closer in, every traveller in and around the view. So MapLibre's
  // worker (which also tiles the incidents) only ever gets a few thousand features.
  var CELL_PX = 50;
  // Cluster radius by count: the same stops as the clusters layer's "circle-radius".
  var RADIUS_STOPS = [[2, 7], [100, 11], [1000, 16], [10000, 24], [50000, 30]];

  function clusterRadius(n) {
    var s = RADIUS_STOPS;
    if (n <= s[0][0]) { return s[0][1]; }
    for (var i = 1; i < s.length; i++) {
      if (n <= s[i][0]) { return s[i - 1][1] + (s[i][1] - s[i - 1][1]) * (n - s[i - 1][0]) / (s[i][0] - s[i - 1][0]); }
    }
    return s[s.length - 1][1];
  }

  // What a feature looks like on screen: its place in half pixels at the next whole zoom
  // level (never coarser than the screen at any zoom the layer is kept for), its colour, ring
  // and radius (a quarter pixel). A batch of positions that changes none of these (at world
  // zoom, a few hundred metres' move inside a cell of thousands of kilometres) would make
  // MapLibre tile and draw two identical frames; each frame costs the page's main thread a
  // wait for the WebGL canvas (see updateTravellers).
  function looks(features, zoom) {
    var scale = 2 * 512 * Math.pow(2, zoom + 1) / 360, out = new Map();
    for (var i = 0; i < features.length; i++) {
      var f = features[i], p = f.properties, c = f.geometry.coordinates;
      var lat = Math.max(-85.05, Math.min(85.05, c[1])) * Math.PI / 180;
      var y = Math.log(Math.tan(Math.PI / 4 + lat / 2)) * 180 / Math.PI;
      var key = p.cluster ? "c" + p.key : "p" + f.id;
      out.set(key, Math.round(c[0] * scale) + "," + Math.round(y * scale) + "," + p.r + "," + (p.a > 0 ? 1 : 0) +
              (p.cluster ? "," + Math.round(4 * clusterRadius(p.point_count)) : ""));
    }
    return out;
  }

  function sameLooks(a, b) {
    if (a === null || b === null || a.size !== b.size) { return false; }
    var same = true;
    a.forEach(function (v, key) { if (same && b.get(key) !== v) { same = false; } });
    return same;
  }

  function aggregate(map, t) {
    var zoom = Math.floor(map.getZoom()), features = [], k;
    travLayer.cells = new Map();
    var sent = travLayer.sent = new Uint8Array(t.lat.length);
    travLayer.view = {zoom: zoom, bounds: null};
    if (zoom > CLUSTER_MAX_ZOOM) {
      var b = map.getBounds(), west = b.getWest(), east = b.getEast(), south = b.getSouth(), north = b.getNorth();
      var padLon = (east - west) / 2, padLat = (north - south) / 2;
      west -= padLon; east += padLon; south -= padLat; north += padLat;
      travLayer.view.bounds = [west, south, east, north];
      for (k = 0; k < t.n; k++) {
        var lat = t.lat[k], lon = t.lon[k];
        if (lat !== lat) { continue; }
        sent[k] = 1;
        if (lat < south || lat > north) { continue; }
        if ((lon >= west && lon <= east) || (lon + 360 >= west && lon + 360 <= east) || (lon - 360 >= west && lon - 360 <= east)) {
          features.push(feature(t, k));
        }
      }
      return features;
    }
    var across = Math.ceil(512 * Math.pow(2, zoom) / CELL_PX), cells = new Map();
    for (k = 0; k < t.n; k++) {
      if (t.lat[k] !== t.lat[k]) { continue; }
      sent[k] = 1;
      var x = (t.lon[k] + 180) / 360;
      var sin = Math.max(-0.9999, Math.min(0.9999, Math.sin(t.lat[k] * Math.PI / 180)));
      var y = 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI);
      var key = Math.floor(y * across) * (across + 1) + Math.floor(x * across);
      var c = cells.get(key);
      if (c === undefined) { c = {n: 0, x: 0, y: 0, r: 0, a: 0, h: 0, k: k}; cells.set(key, c); }
      c.n += 1; c.x += x; c.y += y; c.a += t.aff[k];
      if (t.rank[k] > c.r) { c.r = t.rank[k]; }
      if (t.rank[k] === STATUS_RANK.needs_help) { c.h += 1; }
    }
    cells.forEach(function (c, key) {
      if (c.n === 1) { features.push(feature(t, c.k)); return; }
      var mx = c.x / c.n, my = c.y / c.n;
      travLayer.cells.set(key, c);
      features.push({type: "Feature", geometry: {type: "Point", coordinates: [
        mx * 360 - 180, Math.atan(Math.sinh(Math.PI * (1 - 2 * my))) * 180 / Math.PI]},
        properties: {cluster: true, key: key, point_count: c.n, r: c.r, a: c.a, h: c.h}});
    });
    return features;
  }

  // Whether the view moved enough to need another aggregation (another zoom level, or out
  // of the area the points were picked from).
  function viewChanged(map) {
    var v = travLayer.view;
    if (!v) { return true; }
    var zoom = Math.floor(map.getZoom());
    if (zoom !== v.zoom) { return true; }
    if (!v.bounds) { return false; }
    var b = map.getBounds();
    return b.getWest() < v.bounds[0] || b.getSouth() < v.bounds[1] || b.getEast() > v.bounds[2] || b.getNorth() > v.bounds[3];
  }

  function feature(t, k) {
    return {type: "Feature", id: k + 1, geometry: {type: "Point", coordinates: [t.lon[k], t.lat[k]]},
            properties: {r: t.rank[k], a: t.aff[k]}};
  }

  function scheduleTravellers(soon) {
    if (travLayer.timer !== null) { return; }
    var now = Date.now();
    if (travLayer.sentAt !== null && now - travLayer.sentAt < IN_FLIGHT_MAX_MS) { return; }  // drawn() calls again
    var gap = Math.max(TRAV_REDRAW_MS, WORKER_SHARE_INVERSE * travLayer.workerMs);
    var wait = soon ? 0 : Math.max(0, travLayer.lastAt + gap - now);
    travLayer.timer = setTimeout(updateTravellers, wait);
  }

  // An update is done when the worker has it and the source's tiles are loaded again.
  function travellersDrawn(map) {
    if (travLayer.sentAt === null || travLayer.map !== map) { return; }
    var source = map.getSource(TRAV_SOURCE);
    if (!source || !source.loaded() || !map.isSourceLoaded(TRAV_SOURCE)) { return; }
    travLayer.workerMs = travLayer.stats.workerMs = Date.now() - travLayer.sentAt;
    travLayer.sentAt = null;
    if (travLayer.full || travLayer.dirty.size) { scheduleTravellers(false); }
  }

  // Recompute the layer (aggregate) and hand it to MapLibre, when rows changed or the view
  // needs it (travLayer.full).
  function updateTravellers() {
    travLayer.timer = null;
    var map = travLayer.map, source = null;
    try {
      source = map && map.getSource(TRAV_SOURCE);
    } catch (err) {  // the map was removed (the page left): the next map starts afresh
      travLayer.map = null;
    }
    if (!source) { return; }  // addTravellersLayer schedules the first update
    if (!travLayer.full && travLayer.dirty.size === 0) { return; }
    var t = live.trav, started = performance.now();
    var features = aggregate(map, t);
    // What the layer was computed from (for tests: the positions it shows, per id; an update
    // not sent below shows the same pixels).
    travLayer.drawn = {ids: t.ids.slice(0, t.n), lat: t.lat.slice(0, t.n), lon: t.lon.slice(0, t.n)};
    // With the WebGL canvas drawn in software (a machine without a GPU, headless Chromium),
    // every frame MapLibre renders makes the page's next compositing commit wait on the main
    // thread until the canvas is read back (measured: BENCHMARKS.md section 8), and each setData
    // renders at least once (once, not twice, with the frame gate: assets/crisis_live_frames.js).
    // So an update that would draw exactly what is on screen is not sent (a new map, picture or view always
    // is: travLayer.full). The tooltip reads the cells' latest counts (travLayer.cells).
    var look = looks(features, travLayer.view.zoom), diffSize = features.length;
    if (!travLayer.full && sameLooks(look, travLayer.looks)) {
      travLayer.stats.skipped += 1;
      diffSize = 0;
    } else {
      source.setData({type: "FeatureCollection", features: features});
      travLayer.looks = look;
      travLayer.stats.full += 1;
    }
    travLayer.full = false;
    travLayer.dirty.clear();
    if (diffSize > 0) { travLayer.sentAt = Date.now(); }
    var took = performance.now() - started, st = travLayer.stats;
    st.updates += 1; st.lastMs = took; st.totalMs += took; st.maxMs = Math.max(st.maxMs, took);
    st.lastDiff = diffSize;
    st.points = t.placed;
    travLayer.lastAt = Date.now();
    window.dash_clientside.set_props("live-counts", {children: countsText()});
  }

  function countsText() {
    return openIncidents().length + " open incidents | " + live.trav.placed + " travellers located";
  }

  // -- the tooltip: who (ids only where the room receives them), status, source and age ----

  function tipElement(map) {
    var box = map.getContainer();
    var tip = box.querySelector(".trav-tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "trav-tip";
      tip.setAttribute("role", "status");
      box.appendChild(tip);
    }
    return tip;
  }

  function showTip(map, point, lines, pinned) {
    var tip = tipElement(map);
    tip.textContent = "";
    lines.forEach(function (line, i) {
      var div = document.createElement("div");
      div.className = i === 0 ? "trav-tip-title" : "trav-tip-line";
      div.textContent = line;
      tip.appendChild(div);
    });
    tip.style.left = Math.round(point.x + 12) + "px";
    tip.style.top = Math.round(point.y + 12) + "px";
    tip.style.display = "block";
    tip.dataset.pinned = pinned ? "1" : "";
    return tip;
  }

  function hideTip(map, evenPinned) {
    var tip = map.getContainer().querySelector(".trav-tip");
    if (tip && (evenPinned || !tip.dataset.pinned)) { tip.style.display = "none"; tip.dataset.pinned = ""; }
  }

  function personLines(k) {
    var t = live.trav;
    var who = live.identities ? t.ids[k] : "a person (identity not shown on this display)";
    var age = t.at[k] ? fmtAge(Math.max(0, Date.now() - t.at[k] * 1000)) + " ago" : "age unknown";
    return [who, "status: " + STATUS_LABELS[t.rank[k]] + (t.aff[k] ? " (affected)" : ""),
            "position: " + SOURCE_LABELS[t.src[k]] + ", " + age];
  }

  function clusterLines(props) {
    // The cell's latest counts: an update that changed no pixel was not sent to the layer.
    var latest = props.key !== undefined ? travLayer.cells.get(props.key) : undefined;
    if (latest) { props = {point_count: latest.n, r: latest.r, a: latest.a, h: latest.h}; }
    var lines = [props.point_count + " travellers", "worst status: " + STATUS_LABELS[props.r || 0]];
    if (props.a) { lines.push(props.a + " affected"); }
    if (props.h) { lines.push(props.h + " NEED HELP"); }
    lines.push("zoom in (or click) to see each one");
    return lines;
  }

  function travellerAt(map, point) {
    if (!map.getLayer(TRAV_POINTS)) { return null; }
    var found = map.queryRenderedFeatures([[point.x - 3, point.y - 3], [point.x + 3, point.y + 3]],
                                          {layers: [TRAV_POINTS, TRAV_CLUSTERS]});
    return found.length ? found[0] : null;
  }

  // Names only from the API, which gives them only to the roles allowed to see them.
  function personDetails(map, point, k) {
    var id = live.trav.ids[k];
    var base = personLines(k);
    showTip(map, point, base, true);
    if (!live.identities) { return; }
    fetch("/api/v1/travellers/" + encodeURIComponent(id), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        var tip = tipElement(map);
        if (!tip.dataset.pinned || tip.firstChild.textContent !== base[0]) { return; }
        var lines = base.slice();
        if (body) {
          lines[0] = (body.name ? body.name + " (" + id + ")" : id) + (body.agency ? ", " + body.agency : "");
          var p = body.position;
          if (p && p.source) {
            lines[2] = "best-known position: " + (SOURCE_LABELS[SOURCES.indexOf(p.source)] || p.source) +
              (typeof p.age_seconds === "number" ? ", " + fmtAge(p.age_seconds * 1000) + " ago" : "") +
              (p.confidence ? " (" + p.confidence + " confidence)" : "");
          }
        } else {
          lines.push("not in the travellers register");
        }
        showTip(map, point, lines, true);
      })
      .catch(function () { /* the tooltip keeps what the live picture knows */ });
  }

  function incidentUid() {
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var trace = gd && gd._fullData && gd._fullData[live.config ? live.config.incident_trace : 1];
    return trace ? trace.uid : null;
  }

  function incidentHit(map, point) {
    var uid = incidentUid();
    if (!uid) { return false; }
    var prefix = "plotly-trace-layer-" + uid;
    return map.queryRenderedFeatures([[point.x - 4, point.y - 4], [point.x + 4, point.y + 4]])
      .some(function (f) { return f.layer && f.layer.id.indexOf(prefix) === 0; });
  }

  // -- the incident panel: who is affected by the incident clicked ---------------------------

  var picked = {id: null, fetchedAt: 0, timer: null};

  function el(type, props) {
    return {type: type, namespace: "dash_html_components", props: props || {}};
  }

  function countsLine(counts, pct) {
    if (!counts) { return "no affected people counted yet"; }
    // Nobody affected: say so; "100 %" (or "0 %") of nobody would read as a roll-call done.
    if (!counts.total) { return "Nobody of ours is affected so far."; }
    return counts.total + " affected: " + counts.needs_help + " need help, " + counts.unreachable +
      " unreachable, " + counts.unsure + " unsure, " + counts.safe + " safe, " + counts.no_response +
      " no response | " + (typeof pct === "number" ? pct.toFixed(1) : "0.0") + " % accounted for";
  }

  function renderPicked(body) {
    var m = live.incidents.get(picked.id);
    var title = m ? m.incident.title : picked.id;
    var children = [el("H2", {children: "Affected: " + title})];
    if (!body) {
      children.push(el("P", {className: "map-people-note", children: "loading who is affected..."}));
    } else if (body.error) {
      children.push(el("P", {className: "map-people-note", children: body.error}));
    } else {
      var loud = body.counts && body.counts.needs_help > 0 ? " loud" : "";
      children.push(el("P", {className: "map-people-counts" + loud, id: "map-people-counts",
                             children: countsLine(body.counts, body.accounted_pct)}));
      var people = (body.people || []).slice(0, TIP_MAX_PEOPLE).map(function (p) {
        var who = p.name || p.traveller_id || "a person";
        var where = p.reason === "itinerary" ? "arriving (itinerary)" :
          (p.distance_km !== undefined ? p.distance_km.toFixed(1) + " km from the centre" : "");
        var source = p.position_source ? (SOURCE_LABELS[SOURCES.indexOf(p.position_source)] || p.position_source) +
          (p.position_at ? ", " + fmtAge(Math.max(0, Date.now() - Date.parse(p.position_at))) + " ago" : "") : "";
        return el("Li", {className: "map-person status-" + p.status, children: [
          el("Span", {className: "map-person-status", children: (STATUS_LABELS[STATUS_RANK[p.status]] || p.status)}),
          el("Span", {className: "map-person-who", children: who}),
          el("Span", {className: "map-person-meta", children: [where, source].filter(Boolean).join(" | ")})
        ]});
      });
      children.push(el("Ul", {className: "map-people-list", children: people}));
      if ((body.people || []).length > TIP_MAX_PEOPLE) {
        children.push(el("P", {className: "map-people-note",
                               children: "and " + (body.people.length - TIP_MAX_PEOPLE) + " more: see the incident's page"}));
      }
    }
    children.push(el("A", {href: "/incident/" + encodeURIComponent(picked.id), className: "detail-link", children: "Open the incident"}));
    window.dash_clientside.set_props("map-incident-people", {children: children, style: {display: "block"}});
  }

  function fetchPicked() {
    var id = picked.id;
    picked.fetchedAt = Date.now();
    fetch("/api/v1/incidents/" + encodeURIComponent(id) + "/affected",
          {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) { return r.ok ? body : {error: "not available (" + r.status + ")"}; });
      })
      .then(function (body) { if (picked.id === id) { renderPicked(body); } })
      .catch(function (err) { if (picked.id === id) { renderPicked({error: "not available: " + err}); } });
  }

  function pickIncident(id) {
    // The duty officer's incident panel (assets/crisis_workspace.js), where the page has one.
    if (window.crisisWorkspace && window.crisisWorkspace.open(id)) { return; }
    if (!document.getElementById("map-incident-people")) { return; }
    picked.id = id;
    renderPicked(null);
    fetchPicked();
    // For the page scripts that add to the picked incident (crisis_dispatch.js: who is coming).
    document.dispatchEvent(new CustomEvent("crisis:incident-picked", {detail: {id: id}}));
  }

  // "affected" (crisis:affected): the counts of a changed incident; the list is fetched
  // again at most every 3 s while it changes.
  document.addEventListener("crisis:affected", function (e) {
    var msg = e.detail;
    if (!msg || msg.incident !== picked.id || !document.getElementById("map-people-counts")) { return; }
    window.dash_clientside.set_props("map-people-counts", {children: countsLine(msg.counts, msg.accounted_pct)});
    if (picked.timer === null) {
      picked.timer = setTimeout(function () { picked.timer = null; if (picked.id) { fetchPicked(); } },
                                Math.max(0, picked.fetchedAt + 3000 - Date.now()));
    }
  });
  document.addEventListener("crisis:people", function (e) { applyPeople(e.detail); });

  // -- attaching to the map Plotly draws ---------------------------------------------------

  // Other page scripts (crisis_dispatch.js) add their layers to the live map through
  // window.crisisLive.onMap(fn): fn(map, gd) is called for every map wired, now or later.
  var mapHooks = [];
  function onMap(fn) {
    mapHooks.push(fn);
    if (travLayer.map) { try { fn(travLayer.map, travLayer.gd); } catch (err) { console.error(err); } }
  }

  function wireMap(map, gd) {
    map.__crisisWired = true;
    travLayer.gd = gd;
    mapHooks.forEach(function (fn) { try { fn(map, gd); } catch (err) { console.error(err); } });
    travLayer.stats.maps += 1;
    travLayer.map = map;
    travLayer.full = true;
    travLayer.sent = new Uint8Array(0);
    travLayer.sentAt = null;
    travLayer.looks = null;
    if (!addTravellersLayer(map)) {
      var retry = function () { if (addTravellersLayer(map)) { map.off("styledata", retry); } };
      map.on("styledata", retry);
    }
    // Plotly adds its basemap and trace layers after the map exists: keep ours between
    // them. A new style (never with the app's fixed one, but cheap to cover) drops ours.
    map.on("styledata", function () {
      if (travLayer.map !== map) { return; }
      if (!map.getSource(TRAV_SOURCE)) { addTravellersLayer(map); } else { keepLayerOrder(map); }
      ringIncidents(map);
    });
    ringIncidents(map);
    if (gd && typeof gd.on === "function") { gd.on("plotly_afterplot", function () { if (travLayer.map === map) { ringIncidents(map); } }); }
    var hovering = null;
    map.on("mousemove", function (e) {
      if (hovering !== null) { hovering = e.point; return; }
      hovering = e.point;
      requestAnimationFrame(function () {
        var point = hovering;
        hovering = null;
        var f = travellerAt(map, point);
        if (!f) { hideTip(map, false); map.getCanvas().style.cursor = ""; return; }
        map.getCanvas().style.cursor = "pointer";
        var tip = tipElement(map);
        if (tip.dataset.pinned) { return; }
        showTip(map, point, f.properties.cluster ? clusterLines(f.properties) : personLines(f.id - 1), false);
      });
    });
    map.on("mouseout", function () { hideTip(map, false); });
    map.on("sourcedata", function (e) { if (e.sourceId === TRAV_SOURCE) { travellersDrawn(map); } });
    map.on("moveend", function () {
      if (travLayer.map === map && viewChanged(map)) { travLayer.full = true; scheduleTravellers(true); }
    });
    // Incidents stacked into places at one zoom may be apart at another (crisis_places.js).
    map.on("zoomend", function () { if (travLayer.map === map && placesMoved()) { redrawSoon(); } });
    showPlaces();
    // A click on a traveller shows who it is, on a cluster zooms into it, on an incident
    // opens it (plotly_click below); elsewhere, only after "Report an incident"
    // (#report-start, assets/crisis_workspace.js), it puts the report's pin there.
    map.on("click", function (e) {
      var f = travellerAt(map, e.point);
      if (f && f.properties.cluster) {
        hideTip(map, true);
        // With the click as its cause, Plotly keeps the new view as the user's (uirevision).
        map.easeTo({center: f.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, CLUSTER_MAX_ZOOM + 1)},
                   {originalEvent: e.originalEvent});
        return;
      }
      if (f) { personDetails(map, e.point, f.id - 1); return; }
      hideTip(map, true);
      if (incidentHit(map, e.point)) { return; }
      var workspace = window.crisisWorkspace;
      if (!workspace || !workspace.placing() || !document.getElementById("report-panel")) { return; }
      workspace.place(Math.round(e.lngLat.lat * 1e5) / 1e5, Math.round(((e.lngLat.lng + 540) % 360 - 180) * 1e5) / 1e5);
    });
    if (gd && typeof gd.on === "function") {
      gd.on("plotly_click", function (data) {
        var p = data && data.points && data.points[0];
        var incidentTrace = live.config ? live.config.incident_trace : 1;
        // A stacked place opens its most severe incident (crisis_places.js).
        if (p && p.curveNumber === incidentTrace && p.customdata) { pickIncident(worstAt(String(p.customdata))); }
      });
    }
  }

  function attachMap(tries) {
    guardPlotly();
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var subplot = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    // As soon as the map's style is in, not after Plotly's first draw is done (which waits for
    // MapLibre's "load", several seconds on a busy machine): the travellers layer then loads
    // with Plotly's own layers and is in the first complete frame, with no frame of its own
    // after. Its source is a few thousand aggregated features at most (see aggregate()), so it
    // holds "load" up very little. Patches still wait for the first draw (mapBusy, in "map").
    // Not on the wall: it fits its own view (assets/crisis_wall.js), which Plotly's first draw
    // would set back to the figure's; it waits for that draw, as before.
    var styled = subplot && subplot.map && subplot.map.style && subplot.map.style._loaded &&
      !document.getElementById("wall-root");
    if (!subplot || !subplot.map || (!styled && mapBusy())) {
      if (tries > 0) { setTimeout(function () { attachMap(tries - 1); }, 100); }
      return;
    }
    if (!subplot.map.__crisisWired) { wireMap(subplot.map, gd); }
  }

  // Every country an incident spans (its `countries`, else its one `country`; [] for none).
  function countriesOf(i) {
    return i.countries && i.countries.length ? i.countries : (i.country ? [i.country] : []);
  }

  // Where an incident is, in one short line: its countries up to `most` (3), then "+N" (its
  // page, the map's panel and the board's tooltip name them all); "" when it has none.
  function countriesText(i, most) {
    var all = countriesOf(i);
    most = most || 3;
    return all.slice(0, most).join(", ") + (all.length > most ? " +" + (all.length - most) : "");
  }

  window.crisisLive = {
    state: live, start: start, layer: travLayer, onMap: onMap, countriesOf: countriesOf, countriesText: countriesText,
    onIncident: onIncident, onStatus: onStatus, compareIds: compareIds,
    status: function () { return live.status; },
    staleAfterMs: function () { return STALE_AFTER_MS; },
    // For tests and benchmarks: what the travellers source holds.
    TRAV_SOURCE: TRAV_SOURCE, TRAV_LAYERS: [TRAV_CLUSTERS, TRAV_POINTS], STATUS_COLOURS: STATUS_COLOURS,
    INCIDENT_RING: INCIDENT_RING
  };

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
      start: function (config) {
        if (config) { start(config); }
      },
      map: function (signal, mounted) {
        attachMap(300);  // up to 30 s
        if (!live.ready || !mounted) { return window.dash_clientside.no_update; }
        live.config.area_layer_first = mounted.area_layer_first;
        live.mountedHead = mounted.head;  // the incident stream id the map's figure was drawn at
        live.mounted = mounted;
        if (window.dash_clientside.callback_context.triggered_id === "map-mounted") {
          live.drawn = {inc: -1, areas: {}};
          live.pendingAreas = {};
          live.mapSentAt = null;
        }
        // Nothing new: no incident changed, and the zoom did not change the places.
        if (live.drawn.inc === live.incRev && !placesMoved()) { return window.dash_clientside.no_update; }
        if (live.drawn.inc === -1 && figureCurrent(mounted)) {
          // The figure the server drew holds every incident this page has: no patch (a
          // patch redraws the trace and re-adds each area source: more map frames, later
          // data on a page just opened). Later changes patch only what they change.
          markDrawn();
          return window.dash_clientside.no_update;
        }
        if (mapBusy() || userPressing()) {
          redrawSoon();
          return window.dash_clientside.no_update;
        }
        var patch = mapPatch();
        // Only a guarded Plotly.react (attachMap guards it) tells when the patch is drawn.
        if (patch !== window.dash_clientside.no_update) {
          live.mapSentAt = window.Plotly && window.Plotly.react.__crisisGuarded ? Date.now() : null;
        }
        return patch;
      },
      reportClose: function () {
        return {display: "none"};
      },
      feedBadge: function (signal) {
        if (!newFeedReport(signal)) { return window.dash_clientside.no_update; }
        var bad = [];
        Object.keys(live.feeds.feeds).forEach(function (name) {
          var status = live.feeds.feeds[name].status;
          if (status === "silent" || status === "failing") { bad.push(name + " " + status); }
        });
        return bad.length ? ["FEEDS: " + bad.join(", "), "live-feeds bad"] : ["feeds ok", "live-feeds ok"];
      },
      feedRows: function (signal) {
        if (!newFeedReport(signal)) { return window.dash_clientside.no_update; }
        return Object.keys(live.feeds.feeds).map(function (name) {
          return Object.assign({feed: name}, live.feeds.feeds[name]);
        });
      },
      rejectedTotal: function (signal, shown) {
        if (!newFeedReport(signal)) { return window.dash_clientside.no_update; }
        var total = 0;
        Object.keys(live.feeds.feeds).forEach(function (name) { total += live.feeds.feeds[name].rejected_total; });
        return total === shown ? window.dash_clientside.no_update : total;
      },
      counts: function (signal) {
        if (!live.ready) { return window.dash_clientside.no_update; }
        return countsText();
      }
  });
})();
