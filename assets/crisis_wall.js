/* The wall display (/wall, crisis/ui/pages/wall.py): kept live, turned, drawn once.
 *
 * - Incidents: from window.crisisLive (the page's one socket; a snapshot or the replay after
 *   a reconnection fills it like any live message). The list shows the most severe open
 *   ones and says how many are not shown. On the map each place gets one marker, coloured
 *   by its most severe incident, with the count when several are there (incidents closer
 *   than a marker's width on the screen are one place); the map's own incident trace is
 *   hidden on the wall.
 * - The map: the world drawn once (no repeated copies), fitted to the panel's width, dark,
 *   and still: no zoom, pan or clicks (nobody stands at a wall with a mouse).
 * - Accountability, movements and roster cover: first figures from the page (wall-seed),
 *   then the socket's "accountability", "areas"/"movement" and "roster" messages
 *   (crisis:* DOM events from crisis_live.js). Counts only: a wall receives no names.
 * - Clocks: UTC and the configured IANA time zones (Intl, the browser's zone database).
 * - Panels: all at once, or one at a time turning every `rotate` seconds (URL parameters).
 * No inline script (the Content-Security-Policy forbids it): this is a static asset.
 */
(function () {
  "use strict";

  var WALL = "wall-root";
  var POLL_MS = 250;
  var ROWS = 3;                 // accountability and movements rows at most (what fits a 16:9 panel) (then "N more ... not shown")
  var WARNING_ROWS = 2;         // roster warnings at most (they take two lines each)
  var DISPATCH_ROWS = 3;        // officers sent listed at most (the soonest to arrive first)
  var wall = {
    seed: null, started: false, incRev: -1, listKey: null, map: null, markers: [],
    accountability: null, movements: new Map(), roster: null, panel: 0, rotateTimer: null,
    drawnAt: null, draws: 0, open: null, openRev: -1, soon: null
  };

  function onWall() { return document.getElementById(WALL) !== null; }

  function setProps(id, props) {
    if (document.getElementById(id) && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  // A Dash html component as JSON (for set_props children).
  function h(type, className, children, extra) {
    var props = Object.assign({className: className, children: children}, extra || {});
    return {type: type, namespace: "dash_html_components", props: props};
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }

  function ageText(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) { return s + " s"; }
    if (s < 5400) { return Math.round(s / 60) + " min"; }
    if (s < 172800) { return Math.round(s / 3600) + " h"; }
    return Math.round(s / 86400) + " days";
  }

  function regionLabel(code) {
    var regions = (wall.seed && wall.seed.regions) || {};
    return code ? (regions[code] || code) : "no region";
  }

  // -- incidents -------------------------------------------------------------------------

  // Sorted once per change of the incidents (incRev), not on every frame of a map move.
  function openIncidents() {
    var live = window.crisisLive && window.crisisLive.state;
    if (!live) { return []; }
    if (wall.open && wall.openRev === live.incRev) { return wall.open; }
    var out = [];
    live.incidents.forEach(function (m) { if (m.incident.status !== "closed") { out.push(m.incident); } });
    out.sort(function (a, b) {
      return (b.severity - a.severity) || (Date.parse(b.updated_at) - Date.parse(a.updated_at));
    });
    wall.open = out;
    wall.openRev = live.incRev;
    return out;
  }

  function renderIncidents(open) {
    var most = (wall.seed && wall.seed.max_incidents) || 10;
    var shown = open.slice(0, most);
    var key = shown.map(function (i) { return i.id + ":" + i.severity + ":" + i.status + ":" + i.title; }).join("|")
      + "/" + open.length + "/" + Math.floor(Date.now() / 30000);
    if (key === wall.listKey) { return; }
    wall.listKey = key;
    setProps("wall-incident-list", {children: shown.map(function (i) {
      var where = i.country || regionLabel(i.region);
      return h("Li", "wall-incident sev-" + i.severity, [
        h("Span", "wall-sev-badge sev-bg-" + i.severity, String(i.severity)),
        h("Span", "wall-incident-title", i.title),
        h("Span", "wall-incident-meta", where + " | " + i.status + " | " + ageText(i.occurred_at || i.reported_at))
      ], {"data-incident-id": i.id});
    })});
    var more = open.length - shown.length;
    setProps("wall-incidents-more", {
      children: open.length === 0 ? "No open incidents." :
        (more > 0 ? plural(more, "more open incident") + " not shown (" + open.length + " open in all)"
                  : "All " + plural(open.length, "open incident") + " shown."),
      className: "wall-more" + (more > 0 ? " has-more" : "")
    });
  }

  // -- the map ---------------------------------------------------------------------------

  function fitWorld(map) {
    var box = map.getContainer().getBoundingClientRect();
    if (!box.width || !box.height) { return; }
    // 512 px is the world's width at zoom 0: at this zoom it is exactly the panel's width.
    var zoom = Math.log2(box.width / 512);
    var c = map.getCenter();
    if (Math.abs(map.getZoom() - zoom) < 0.001 && Math.abs(c.lng) < 0.01 && Math.abs(c.lat - 20) < 0.01) { return; }
    map.jumpTo({center: [0, 20], zoom: zoom}, {originalEvent: new Event("wall-fit")});
  }

  function darken(map) {
    var style = map.getStyle && map.getStyle();
    (style && style.layers || []).forEach(function (layer) {
      if (layer.type === "background") { map.setPaintProperty(layer.id, "background-color", "#0b1219"); }
    });
  }

  function still(map) {
    ["scrollZoom", "boxZoom", "dragRotate", "dragPan", "keyboard", "doubleClickZoom", "touchZoomRotate"]
      .forEach(function (name) { if (map[name] && map[name].disable) { map[name].disable(); } });
  }

  function wireMap(map, gd) {
    if (!onWall() || map.__crisisWall) { return; }
    // Plotly turns dragging back on after each redraw: off again (the panel also takes no pointer: wall.css).
    // The map is wired as soon as its style is in (crisis_live.js attachMap), before Plotly's first
    // draw is done, which sets the figure's view: fitted again after each draw (a no-op when fitted).
    if (gd && typeof gd.on === "function") { gd.on("plotly_afterplot", function () { still(map); fitWorld(map); }); }
    map.__crisisWall = true;
    wall.map = map;
    map.setRenderWorldCopies(false);   // the world once: no repeated copies (and no repeated markers)
    still(map);
    darken(map);
    map.on("styledata", function () { darken(map); });
    fitWorld(map);
    map.on("resize", function () { fitWorld(map); });
    // Plotly sizes its map after the first draw: fit again once it is idle.
    map.once("idle", function () { fitWorld(map); });
    map.on("move", drawMarkers);
    drawMarkers();
  }

  function markerSize() {
    var root = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    return 2.2 * root;
  }

  // One marker per place: incidents closer on the screen than a marker's width are one place.
  function places(map, open) {
    var size = markerSize();
    var groups = [];
    open.forEach(function (i) {
      var p = map.project([i.lon, i.lat]);
      for (var g = 0; g < groups.length; g++) {
        var dx = groups[g].x - p.x, dy = groups[g].y - p.y;
        if (dx * dx + dy * dy < size * size * 0.64) { groups[g].items.push(i); return; }
      }
      groups.push({x: p.x, y: p.y, items: [i]});
    });
    return groups;
  }

  function drawMarkers() {
    var box = document.getElementById("wall-markers");
    var map = wall.map;
    if (!box || !map) { return; }
    var open = openIncidents();  // most severe first: a place's first incident is its worst
    var groups = places(map, open);
    var html = groups.map(function (g) {
      var worst = g.items[0].severity;
      var n = g.items.length;
      var ids = g.items.map(function (i) { return i.id; }).join(" ");
      var title = g.items.map(function (i) { return i.title; }).join("; ");
      return "<div class=\"wall-marker sev-bg-" + worst + (n > 1 ? " stacked" : "") + "\" data-count=\"" + n +
        "\" data-incident-ids=\"" + ids + "\" title=\"" + title.replace(/[&"<>]/g, "") + "\" style=\"left:" +
        g.x.toFixed(1) + "px;top:" + g.y.toFixed(1) + "px\">" + (n > 1 ? String(n) : "") + "</div>";
    }).join("");
    if (box.__html !== html) {
      box.innerHTML = html;
      box.__html = html;
      wall.markers = groups.map(function (g) { return g.items.map(function (i) { return i.id; }); });
      wall.drawnAt = Date.now();
      wall.draws += 1;
      // The markers moved: dispatch labels keep clear of them (crisis_dispatch.js).
      document.dispatchEvent(new CustomEvent("crisis:places"));
    }
  }

  // -- accountability, movements, roster ---------------------------------------------------

  function countsText(c) {
    var parts = [];
    if (c.needs_help) { parts.push(c.needs_help + " NEED HELP"); }
    if (c.unreachable) { parts.push(c.unreachable + " unreachable"); }
    if (c.no_response) { parts.push(c.no_response + " no response"); }
    if (c.unsure) { parts.push(c.unsure + " unsure"); }
    if (c.safe) { parts.push(c.safe + " safe"); }
    return parts.join(" | ") || "nobody";
  }

  function pctText(pct) { return (pct === null || pct === undefined ? "-" : Number(pct).toFixed(0)) + " % accounted for"; }

  function renderAccountability() {
    var a = wall.accountability;
    if (!a) { return; }
    var total = {total: 0, needs_help: 0, safe: 0, unsure: 0, unreachable: 0, no_response: 0};
    (a.regions || []).forEach(function (r) {
      Object.keys(total).forEach(function (k) { total[k] += (r.counts && r.counts[k]) || 0; });
    });
    var accounted = total.safe + total.needs_help + total.unsure;
    var pct = total.total ? Math.round(100 * accounted / total.total) : null;
    setProps("wall-accountability-total", {
      children: total.total ? [
        h("Span", "wall-big-number", pct + " %"), " accounted for | " + plural(total.total, "person", "people") +
        " affected" + (total.needs_help ? " | " : ""),
        total.needs_help ? h("Span", "wall-loud", total.needs_help + " NEED HELP") : null
      ] : "Nobody affected by an open incident or movement.",
      className: "wall-big" + (total.needs_help ? " loud" : "")
    });
    var rows = [];
    (a.incidents || []).forEach(function (r) { rows.push({name: r.title, counts: r.counts, pct: r.accounted_pct, kind: "incident"}); });
    (a.areas || []).forEach(function (r) { rows.push({name: (r.name || r.area) + " (area)", counts: r.counts, pct: r.accounted_pct, kind: "area"}); });
    rows = rows.filter(function (r) { return r.counts && r.counts.total > 0; });
    rows.sort(function (x, y) { return (y.counts.needs_help - x.counts.needs_help) || (y.counts.total - x.counts.total); });
    var shown = rows.slice(0, ROWS);
    var items = shown.map(function (r) {
      return h("Li", "wall-row" + (r.counts.needs_help ? " loud" : ""), [
        h("Span", "wall-row-name", r.name),
        h("Span", "wall-row-figure", pctText(r.pct)),
        h("Span", "wall-row-detail", countsText(r.counts) + " (" + r.counts.total + ")")
      ]);
    });
    if (rows.length > shown.length) { items.push(h("Li", "wall-more has-more", plural(rows.length - shown.length, "more", "more") + " not shown")); }
    setProps("wall-accountability-list", {children: items});
  }

  function renderMovements() {
    var rows = [];
    wall.movements.forEach(function (m) { rows.push(m); });
    rows.sort(function (x, y) {
      return ((y.counts.overdue || 0) - (x.counts.overdue || 0)) || ((y.counts.total || 0) - (x.counts.total || 0));
    });
    var people = 0, arrived = 0, overdue = 0;
    rows.forEach(function (m) { people += m.counts.total || 0; arrived += m.counts.arrived || 0; overdue += m.counts.overdue || 0; });
    setProps("wall-movements-total", {
      children: rows.length ? [h("Span", "wall-big-number", String(rows.length)), " " +
        (rows.length === 1 ? "movement" : "movements") + " | " + arrived + " of " + plural(people, "person", "people") +
        " arrived" + (overdue ? " | " : ""), overdue ? h("Span", "wall-loud", overdue + " OVERDUE") : null]
        : "No relocation or evacuation under way.",
      className: "wall-big" + (overdue ? " loud" : "")
    });
    var shown = rows.slice(0, ROWS);
    var items = shown.map(function (m) {
      var c = m.counts;
      return h("Li", "wall-row" + (c.overdue ? " loud" : ""), [
        h("Span", "wall-row-name", m.action + ": " + m.name + (m.haven ? " to " + m.haven : "")),
        h("Span", "wall-row-figure", (c.arrived || 0) + " / " + (c.total || 0) + " arrived"),
        h("Span", "wall-row-detail", (c.moving || 0) + " moving | " + (c.to_move || 0) + " to move" +
          (c.stayed ? " | " + c.stayed + " stayed" : "") + (c.overdue ? " | " + c.overdue + " OVERDUE" : ""))
      ]);
    });
    if (rows.length > shown.length) { items.push(h("Li", "wall-more has-more", plural(rows.length - shown.length, "more movement") + " not shown")); }
    setProps("wall-movements-list", {children: items});
  }

  var ACTIONS = {3: "Relocation", 4: "Relocation out of the country", 5: "Evacuation"};

  function applyArea(msg) {
    var area = msg && msg.area;
    if (!area || area.id === undefined) { return; }
    var m = area.movement;
    var id = String(area.id);
    if (!m || m.closed_at) { wall.movements.delete(id); return; }
    var haven = m.safe_haven;
    wall.movements.set(id, {
      area: id, name: area.name || id, region: area.region,
      action: ACTIONS[m.phase || area.phase] || "Movement",
      haven: haven && typeof haven === "object" ? haven.name : null,
      counts: m.counts || {}
    });
  }

  function renderRoster() {
    var r = wall.roster;
    if (!r) { return; }
    var s = r.standby_now || {total: 0, readiness_24h: 0, by_region: {}};
    var warnings = r.warnings || [];
    var at = r.at ? Date.parse(r.at) : Date.now();
    var now = warnings.filter(function (w) { return Date.parse(w.from) <= at && at < Date.parse(w.to); });
    setProps("wall-roster-standby", {
      children: [h("Span", "wall-big-number", String(s.total)), " on standby now | " + s.readiness_24h +
        " ready in 24 h | " + plural(warnings.length, "cover warning") + (now.length ? " (" + now.length + " now)" : "")],
      className: "wall-big" + (now.length ? " loud" : "")
    });
    var regions = Object.keys(s.by_region || {}).sort().map(function (k) {
      return (k === "worldwide" ? "worldwide" : regionLabel(k)) + " " + s.by_region[k];
    });
    var sorted = now.concat(warnings.filter(function (w) { return now.indexOf(w) < 0; }));
    var shown = sorted.slice(0, WARNING_ROWS);
    var items = [];
    if (regions.length) { items.push(h("Li", "wall-row wall-row-plain", [h("Span", "wall-row-name", "Standby by region: " + regions.join(" | "))])); }
    items = items.concat(dispatchRows());
    shown.forEach(function (w) {
      var inForce = now.indexOf(w) >= 0;
      items.push(h("Li", "wall-row wall-warning" + (inForce ? " loud" : ""), [
        h("Span", "wall-row-name", w.message || "Coverage warning"),
        h("Span", "wall-row-figure", inForce ? "NOW" : "")
      ]));
    });
    if (sorted.length > shown.length) { items.push(h("Li", "wall-more has-more", plural(sorted.length - shown.length, "more warning") + " not shown")); }
    var key = JSON.stringify(items);
    if (key !== wall.rosterKey) { wall.rosterKey = key; setProps("wall-roster-warnings", {children: items}); }
  }

  // Officers sent and not yet back (crisis_dispatch.js holds them; a wall gets no names): to
  // which incident, and when they arrive. The map's ETA labels give way to its markers, and a
  // wall cannot hover to show a hidden one: this list always says it.
  function dispatchRows() {
    var d = window.crisisDispatch, live = window.crisisLive && window.crisisLive.state;
    if (!d || !d.state) { return []; }
    var sent = Object.keys(d.state.dispatches).map(function (k) { return d.state.dispatches[k]; })
      .filter(function (x) { return x.status !== "stood_down"; });
    if (!sent.length) { return []; }
    sent.sort(function (a, b) { return String(a.eta || "~").localeCompare(String(b.eta || "~")); });
    var rows = [h("Li", "wall-row wall-row-plain wall-dispatch-total",
                  [h("Span", "wall-row-name", plural(sent.length, "officer") + " sent")])];
    sent.slice(0, DISPATCH_ROWS).forEach(function (x) {
      var m = live && live.incidents.get(x.incident_id);
      rows.push(h("Li", "wall-row wall-dispatch", [
        h("Span", "wall-row-name", m ? m.incident.title : "an incident"),
        h("Span", "wall-row-figure", ""),
        h("Span", "wall-row-detail", d.etaText(x))
      ], {"data-dispatch": x.id || ""}));
    });
    if (sent.length > DISPATCH_ROWS) { rows.push(h("Li", "wall-more has-more", plural(sent.length - DISPATCH_ROWS, "more officer") + " sent not shown")); }
    return rows;
  }

  // -- clocks ----------------------------------------------------------------------------

  var formats = {};
  function renderClocks() {
    var zones = (wall.seed && wall.seed.zones) || [{zone: "UTC", label: "UTC"}];
    var now = new Date();
    setProps("wall-clock-list", {children: zones.map(function (z) {
      var f = formats[z.zone] || (formats[z.zone] = new Intl.DateTimeFormat("en-GB", {
        timeZone: z.zone, hour: "2-digit", minute: "2-digit", weekday: "short", day: "numeric", month: "short", hourCycle: "h23"}));
      var parts = {};
      f.formatToParts(now).forEach(function (p) { parts[p.type] = p.value; });
      return h("Div", "wall-clock" + (z.zone === "UTC" ? " utc" : ""), [
        h("Span", "wall-clock-time", parts.hour + ":" + parts.minute),
        h("Span", "wall-clock-label", z.label),
        h("Span", "wall-clock-date", parts.weekday + " " + parts.day + " " + parts.month)
      ], {"data-zone": z.zone});
    })});
  }

  // -- panels ----------------------------------------------------------------------------

  var PANEL_IDS = {map: "wall-map", incidents: "wall-incidents", accountability: "wall-accountability",
                   movements: "wall-movements", roster: "wall-roster", clocks: "wall-clocks"};

  function showPanel(k) {
    var panels = wall.seed.panels;
    wall.panel = k % panels.length;
    panels.forEach(function (name, i) {
      var el = document.getElementById(PANEL_IDS[name]);
      if (el) { el.classList.toggle("wall-shown", i === wall.panel); }
    });
    if (panels[wall.panel] === "map" && wall.map) { wall.map.resize(); fitWorld(wall.map); }
  }

  function startRotation() {
    if (wall.rotateTimer || !wall.seed.rotate) { return; }
    showPanel(0);
    wall.rotateTimer = setInterval(function () { if (onWall()) { showPanel(wall.panel + 1); } }, wall.seed.rotate * 1000);
  }

  // -- wiring ----------------------------------------------------------------------------

  function tick() {
    if (!onWall()) { return; }
    var live = window.crisisLive && window.crisisLive.state;
    if (!live || !live.ready) { return; }
    if (live.incRev !== wall.incRev || wall.listKey === null) {
      wall.incRev = live.incRev;
      renderIncidents(openIncidents());
      drawMarkers();
      renderRoster();  // the officers sent name their incidents' titles (unchanged: nothing redrawn)
    }
  }

  function start(seed) {
    wall.seed = seed;
    wall.accountability = seed.accountability;
    wall.roster = seed.roster;
    wall.movements = new Map();
    (seed.movements || []).forEach(function (m) { wall.movements.set(String(m.area), m); });
    wall.listKey = null;
    wall.rosterKey = null;
    wall.incRev = -1;
    renderAccountability();
    renderMovements();
    renderRoster();
    renderClocks();
    startRotation();
    if (wall.started) { return; }
    wall.started = true;
    setInterval(tick, POLL_MS);
    setInterval(function () { if (onWall()) { renderClocks(); } }, 1000);
    setInterval(function () { if (onWall()) { wall.listKey = null; tick(); } }, 30000);  // ages move on
    if (window.crisisLive && window.crisisLive.onMap) { window.crisisLive.onMap(wireMap); }
    // A new incident's marker is drawn as soon as its message is applied (once per message:
    // a snapshot's incidents together), in the task that received it, before crisis_live.js's
    // flush redraws the map's areas (a Plotly redraw and a map frame whose canvas readback
    // can hold the main thread for hundreds of ms under load); then the list.
    if (window.crisisLive && window.crisisLive.onIncident) {
      window.crisisLive.onIncident(function () {
        if (wall.soon) { return; }
        wall.soon = true;
        Promise.resolve().then(function () {
          wall.soon = null;
          var live = window.crisisLive.state;
          if (!onWall() || !live.ready) { return; }
          wall.open = null;  // the incidents changed before the flush bumps incRev: sort again
          drawMarkers();
          renderIncidents(openIncidents());
        });
      });
    }
  }

  document.addEventListener("crisis:accountability", function (e) {
    if (!onWall() || !e.detail) { return; }
    wall.accountability = e.detail;
    renderAccountability();
  });
  ["crisis:areas", "crisis:movement"].forEach(function (name) {
    document.addEventListener(name, function (e) {
      if (!onWall()) { return; }
      applyArea(e.detail);
      renderMovements();
    });
  });
  // A failover (crisis:reset, crisis_live.js): what the wall was seeded with (movements under
  // way) may hold what the new server never had. A wall has no one to re-read it for: it loads
  // again (its display session survives; the picture of the map is in the first HTML).
  document.addEventListener("crisis:reset", function () {
    if (onWall()) { window.location.reload(); }
  });
  document.addEventListener("crisis:dispatches", function () { if (onWall()) { renderRoster(); } });
  document.addEventListener("crisis:roster", function (e) {
    if (!onWall() || !e.detail) { return; }
    wall.roster = e.detail;
    renderRoster();
  });

  window.crisisWall = {state: wall, places: places, fitWorld: fitWorld};

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    wall: function (seed) {
      if (seed) { start(seed); }
      return Date.now();
    }
  });
})();
