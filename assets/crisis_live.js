/* The browser end of the live picture.
 *
 * One Socket.IO connection per page (namespace /live) keeps the incidents and traveller
 * positions in memory. Incoming messages only mark what changed; at most every 60 ms a
 * signal goes to Dash (set_props on the live-signal store), whose clientside callbacks
 * return Patch objects for the map and the incident list. No server callback runs per
 * pushed event. On reconnect the client sends the last incident and positions stream
 * ids it applied and the scope its picture was built for; the server replays what was
 * missed (or sends a snapshot) and sends the positions changed since (or all of them).
 */
(function () {
  "use strict";

  var FLUSH_MS = 60;
  var STALE_AFTER_MS = 20000;  // no word from the server for this long: say so

  var live = {
    config: null,
    socket: null,
    ready: false,
    connected: false,
    incidents: new Map(),      // incident id -> message {stream_id, incident, display_area, colour}
    lastIncidentId: null,      // newest incident stream id applied
    lastPositionsId: null,     // newest positions stream id applied
    scope: null,               // what the picture shows (the server's room), from the last snapshot
    trav: {index: new Map(), ids: [], lat: new Float32Array(4096), lon: new Float32Array(4096), n: 0},
    feeds: null,               // the latest feed health report {feeds: {name: row}, checked_at}
    dirty: {incidents: false, positions: false, feeds: false, redraw: false},
    mapSentAt: null,
    rev: 0,
    incRev: 0,                 // bumped whenever the incidents changed
    posRev: 0,                 // bumped whenever positions changed
    drawn: {inc: -1, pos: -1}, // what the map shows now
    flushTimer: null,
    lastDataAt: null,          // when the newest data (incident or positions) arrived
    lastHeardAt: null,         // when the server last said anything (data or heartbeat)
    lastError: null
  };

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
    live.dirty.incidents = true;
  }

  function grow(t, needed) {
    if (needed <= t.lat.length) { return; }
    var size = t.lat.length;
    while (size < needed) { size *= 2; }
    var lat = new Float32Array(size), lon = new Float32Array(size);
    lat.set(t.lat.subarray(0, t.n));
    lon.set(t.lon.subarray(0, t.n));
    t.lat = lat;
    t.lon = lon;
  }

  function applyPositions(msg) {
    var t = live.trav;
    var lat = new Float32Array(msg.lat), lon = new Float32Array(msg.lon);
    if (msg.full) { t.index = new Map(); t.ids = []; t.n = 0; }
    if (msg.full || !live.lastPositionsId || compareIds(msg.stream_id, live.lastPositionsId) > 0) {
      live.lastPositionsId = msg.stream_id;
    }
    if (msg.scope) { live.scope = msg.scope; }
    grow(t, t.n + msg.ids.length);
    for (var i = 0; i < msg.ids.length; i++) {
      var k = t.index.get(msg.ids[i]);
      if (k === undefined) {
        k = t.n++;
        t.index.set(msg.ids[i], k);
        t.ids.push(msg.ids[i]);
      }
      t.lat[k] = lat[i];
      t.lon[k] = lon[i];
    }
    live.dirty.positions = true;
  }

  function scheduleFlush() {
    if (live.flushTimer === null) { live.flushTimer = setTimeout(flush, FLUSH_MS); }
  }

  function flush() {
    live.flushTimer = null;
    var d = live.dirty;
    if (!live.ready || !(d.incidents || d.positions || d.feeds || d.redraw)) { return; }
    live.rev += 1;
    if (d.incidents) { live.incRev += 1; }
    if (d.positions) { live.posRev += 1; }
    var signal = {rev: live.rev, incidents: d.incidents, positions: d.positions, feeds: d.feeds,
                  stream_id: live.lastIncidentId, count: live.incidents.size, travellers: live.trav.n};
    live.dirty = {incidents: false, positions: false, feeds: false, redraw: false};
    window.dash_clientside.set_props("live-signal", {data: signal});
  }

  function setStatus(text, state) {
    window.dash_clientside.set_props("live-status", {children: text, className: "live-status " + state});
  }

  function fmtAge(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min " + (s % 60) + " s"; }
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function updateAge() {
    var now = Date.now();
    var text = "no data yet", state = "waiting";
    if (live.lastDataAt !== null) {
      text = "newest data " + fmtAge(now - live.lastDataAt) + " ago";
      state = "fresh";
    }
    var silent = live.lastHeardAt === null ? Infinity : now - live.lastHeardAt;
    if (!live.connected || silent > STALE_AFTER_MS) {
      state = "stale";
      text = "STALE - " + text + (live.connected ? " (server silent " + fmtAge(silent) + ")" : " (not connected)");
    }
    window.dash_clientside.set_props("live-age", {children: text, className: "live-age " + state});
  }

  function sync(socket) {
    var ask = {last_id: live.lastIncidentId, positions_id: live.lastPositionsId, scope: live.scope};
    socket.emit("sync", ask, function (ack) {
      if (ack && ack.error === "rate limited") {
        setTimeout(function () { if (socket.connected) { sync(socket); } }, 1000 * (ack.retry_after || 1));
        return;
      }
      live.ready = true;
      heard(false);
      scheduleFlush();
    });
  }

  function start(config) {
    if (live.socket) { return; }
    live.config = config;
    var socket = window.io(config.namespace, {
      // Called on every (re)connection: the session cookie authenticates browsers;
      // a token in the config is for kiosk pages opened with one.
      auth: function (cb) { cb(config.token ? {token: config.token} : {}); }
    });
    live.socket = socket;
    socket.on("connect", function () {
      live.connected = true;
      setStatus("LIVE", "ok");
      sync(socket);
    });
    socket.on("disconnect", function (reason) {
      live.connected = false;
      setStatus("RECONNECTING (" + reason + ")", "down");
    });
    socket.on("connect_error", function (err) {
      live.connected = false;
      live.lastError = err.message;
      setStatus("NOT CONNECTED: " + err.message, "down");
    });
    socket.on("snapshot", function (msg) {
      live.incidents = new Map();
      live.lastIncidentId = null;
      if (msg.scope) { live.scope = msg.scope; }
      msg.incidents.forEach(applyIncident);
      if (!live.lastIncidentId || compareIds(msg.stream_id, live.lastIncidentId) > 0) {
        live.lastIncidentId = msg.stream_id;
      }
      live.dirty.incidents = true;
      heard(true);
      scheduleFlush();
    });
    socket.on("incident", function (msg) { applyIncident(msg); heard(true); scheduleFlush(); });
    socket.on("positions", function (msg) { applyPositions(msg); heard(true); scheduleFlush(); });
    // People, areas and movements: re-announced on the page as DOM events
    // ("crisis:affected", ...), for the page scripts that show them.
    ["affected", "people", "areas", "accountability", "movement"].forEach(function (name) {
      socket.on(name, function (msg) {
        heard(true);
        document.dispatchEvent(new CustomEvent("crisis:" + name, {detail: msg}));
      });
    });
    socket.on("heartbeat", function () { heard(false); });
    socket.on("feeds", function (msg) { live.feeds = msg; live.dirty.feeds = true; heard(false); scheduleFlush(); });
    setInterval(updateAge, 1000);
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

  function mapBusy() {
    if (live.mapSentAt !== null && Date.now() - live.mapSentAt < MAP_DRAW_MAX_MS) { return true; }
    return document.querySelector("#live-map.dash-graph--pending, #live-map .dash-graph--pending") !== null;
  }

  function redrawSoon() {
    live.dirty.redraw = true;
    scheduleFlush();
  }

  function mapPatch() {
    var cfg = live.config;
    var Patch = window.dash_clientside.Patch;
    var patch = new Patch();
    var t = live.trav;
    if (live.drawn.pos !== live.posRev) {
      live.drawn.pos = live.posRev;
      patch.assign(["data", cfg.traveller_trace, "lat"], t.lat.slice(0, t.n));
      patch.assign(["data", cfg.traveller_trace, "lon"], t.lon.slice(0, t.n));
    }
    if (live.drawn.inc !== live.incRev) {
      live.drawn.inc = live.incRev;
      var open = openIncidents();
      patch.assign(["data", cfg.incident_trace, "lat"], open.map(function (m) { return m.incident.lat; }));
      patch.assign(["data", cfg.incident_trace, "lon"], open.map(function (m) { return m.incident.lon; }));
      patch.assign(["data", cfg.incident_trace, "customdata"], open.map(function (m) { return m.incident.id; }));
      patch.assign(["data", cfg.incident_trace, "text"], open.map(function (m) {
        return m.incident.title + " (severity " + m.incident.severity + ", " + m.incident.status + ")";
      }));
      patch.assign(["data", cfg.incident_trace, "marker", "color"], open.map(function (m) { return m.colour; }));
      for (var s = 1; s <= 5; s++) {
        var features = open.filter(function (m) { return m.display_area && m.incident.severity === s; })
          .map(function (m) { return {type: "Feature", geometry: m.display_area, properties: {id: m.incident.id}}; });
        patch.assign(["layout", "map", "layers", cfg.area_layer_first + s - 1, "source"],
                     {type: "FeatureCollection", features: features});
      }
    }
    patch.assign(["layout", "datarevision"], live.rev);
    return patch.build();
  }

  function ageText(iso) {
    return fmtAge(Date.now() - Date.parse(iso)) + " ago";
  }

  function incidentItems() {
    var open = openIncidents();
    // The most severe first; among equals, the latest change first.
    open.sort(function (a, b) {
      return (b.incident.severity - a.incident.severity) || compareIds(b.stream_id, a.stream_id);
    });
    return open.slice(0, 40).map(function (m) {
      var i = m.incident;
      return {
        type: "Li", namespace: "dash_html_components",
        props: {
          className: "incident-item sev-" + i.severity,
          "data-incident-id": i.id,
          children: [
            {type: "Span", namespace: "dash_html_components", props: {className: "sev-badge", children: String(i.severity)}},
            {type: "Span", namespace: "dash_html_components", props: {className: "incident-title", children: i.title}},
            {type: "Span", namespace: "dash_html_components", props: {className: "incident-meta",
              children: (i.country || "-") + " | " + i.status + " | " + ageText(i.updated_at)}}
          ]
        }
      };
    });
  }

  // Plotly finishes a map redraw asynchronously (positions redraw the map several times a
  // second). When the user leaves the page meanwhile, dcc.Graph purges the graph and the
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
      if (el && drawing && typeof drawing.then === "function") {
        var isMap = typeof el.closest === "function" && el.closest("#live-map") !== null;
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
  // only when a new report came (signals come up to every 60 ms with positions).
  function newFeedReport(signal) {
    var triggered = window.dash_clientside.callback_context.triggered_id;
    return live.feeds !== null && !(triggered && signal && !signal.feeds);
  }

  // A click on the map (not on a marker) opens the report form there (duty officers).
  function attachMapClick(tries) {
    guardPlotly();
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var subplot = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    if (!subplot || !subplot.map) {
      if (tries > 0) { setTimeout(function () { attachMapClick(tries - 1); }, 250); }
      return;
    }
    if (subplot.map.__crisisClick) { return; }
    subplot.map.__crisisClick = true;
    subplot.map.on("click", function (e) {
      if (!document.getElementById("report-panel")) { return; }
      window.dash_clientside.set_props("report-click", {data: {
        lat: Math.round(e.lngLat.lat * 1e5) / 1e5,
        lon: Math.round(((e.lngLat.lng + 540) % 360 - 180) * 1e5) / 1e5,
        at: Date.now()
      }});
    });
  }

  window.crisisLive = {state: live, start: start};

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
      start: function (config) {
        if (config) { start(config); }
      },
      map: function (signal, mounted) {
        attachMapClick(40);
        if (!live.ready || !mounted) { return window.dash_clientside.no_update; }
        live.config.area_layer_first = mounted.area_layer_first;
        if (window.dash_clientside.callback_context.triggered_id === "map-mounted") {
          live.drawn = {inc: -1, pos: -1};
          live.mapSentAt = null;
        }
        if (mapBusy()) {
          redrawSoon();
          return window.dash_clientside.no_update;
        }
        // Only a guarded Plotly.react (attachMapClick guards it) tells when the patch is drawn.
        live.mapSentAt = window.Plotly && window.Plotly.react.__crisisGuarded ? Date.now() : null;
        return mapPatch();
      },
      incidentList: function (signal) {
        if (!live.ready) { return window.dash_clientside.no_update; }
        return incidentItems();
      },
      reportOpen: function (click) {
        if (!click) { return [{display: "none"}, ""]; }
        return [{display: "block"}, "at " + click.lat.toFixed(4) + ", " + click.lon.toFixed(4)];
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
        return openIncidents().length + " open incidents | " + live.trav.n + " travellers located";
      }
  });
})();
