/* The wall display (/wall, crisis/ui/pages/wall.py): kept live, turned, drawn once.
 *
 * - Incidents: from window.crisisLive (the page's one socket; a snapshot or the replay after
 *   a reconnection fills it like any live message). The list shows the most severe open
 *   ones, as many whole rows as fit its panel (at most `incidents=`), and says how many open
 *   incidents are not shown. Every list on the wall is fitted so (fitList): no row is cut,
 *   none is left out without the "N more ... not shown" line counting it; re-fitted when its
 *   panel changes size (a banner, a turn of the panels, a resize) and when the list changes.
 *   Ages in the board's units (fmtAge: "36 s", "2 h 5 min", "40 d", "8.1 y").
 *   On the map each place gets one marker, coloured by its most severe incident, with the
 *   count when several are there (incidents closer than a marker's width on the screen are
 *   one place); the map's own incident trace is hidden on the wall.
 * - The header: the shell's badges are links, hidden on a wall; their words (people needing
 *   help, cover warnings, feeds) are shown in the header as plain text (mirrorBadges).
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

  // An age in the incident board's units (assets/crisis_board.js fmtAge, the same rule): a wall
  // and the board side by side say "8.1 y" for the same incident.
  function ageText(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; }
    if (s < 86400 * 365) { return Math.floor(s / 86400) + " d"; }
    return (s / (86400 * 365.25)).toFixed(1) + " y";
  }

  // A DOM element (the wall's lists are built here, not by Dash: they are fitted to their
  // panel synchronously, measured in the same task, so no cut row is ever painted).
  function el(tag, className, children, attrs) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined || c === "") { return; }
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  // Shows as many of `rows` (DOM nodes, in order) as fit `list` whole, and says what is not
  // shown: say(shown) gives the words for the first `shown` rows shown ("" when nothing is
  // left out). The words go in `footer` (an element under the list) or, without one, in a
  // last row of the list itself, which must fit too. The list is a flex item of its panel
  // (wall.css): its height is what the panel leaves it. Returns how many rows are shown.
  function fitList(list, rows, say, footer) {
    var more = footer || el("li", "wall-more has-more");
    var shown = rows.length;
    list.textContent = "";
    rows.forEach(function (r) { list.appendChild(r); });
    // the height every row would take: what the list asks of its panel (shareColumn)
    var want = rows.length ? rows[rows.length - 1].getBoundingClientRect().bottom - list.getBoundingClientRect().top : 0;
    list.setAttribute("data-want", String(Math.ceil(want)));
    function words() {
      var text = say(shown);
      if (footer) {
        footer.textContent = text.words;
        footer.className = "wall-more" + (text.more ? " has-more" : "");
      } else if (text.words) {
        more.textContent = text.words;
        if (!more.parentNode) { list.appendChild(more); }
      } else if (more.parentNode) {
        list.removeChild(more);
      }
    }
    function overflows() {
      var last = list.lastElementChild;
      if (!last) { return false; }
      var bottom = list.getBoundingClientRect().top + list.clientHeight;
      return last.getBoundingClientRect().bottom > bottom + 0.5;
    }
    words();
    while (shown > 0 && overflows()) {
      shown -= 1;
      list.removeChild(rows[shown]);
      words();
    }
    list.setAttribute("data-shown", String(shown));
    list.setAttribute("data-rows", String(rows.length));
    shareColumn();
    return shown;
  }

  // With every panel at once, the roll-call, the movements and the roster share the third
  // column. A panel whose rows need less than an even share gets what they need; the height
  // left goes to the others. Sixteen incidents with people in them and one movement give the
  // roll-call the room, not the movements panel's empty half. A panel's need is its height
  // now plus what its lists lack (or minus what they leave empty), so it does not change when
  // the column is divided again: the division settles at once.
  var SHARED = ["wall-accountability-panel", "wall-movements-panel", "wall-roster-panel"];
  var share = {queued: false, rows: null};
  function shareColumn() {
    if (share.queued || !window.requestAnimationFrame) { return; }
    share.queued = true;
    window.requestAnimationFrame(function () { share.queued = false; divideColumn(); });
  }

  function divideColumn() {
    var root = document.getElementById(WALL);
    if (!root || !root.classList.contains("wall-all") || /(^|\s)wall-n[123](\s|$)/.test(root.className)) { return; }
    var panels = SHARED.map(function (name) { return root.querySelector("." + name); });
    if (panels.some(function (p) { return !p || !p.offsetHeight; })) { return; }
    var total = 0;
    var wants = panels.map(function (panel) {
      var height = panel.getBoundingClientRect().height, lacking = 0;
      total += height;
      panel.querySelectorAll("[data-want]").forEach(function (list) {
        lacking += Number(list.getAttribute("data-want")) - list.clientHeight;
      });
      return Math.max(0, height + lacking) + 4;  // a few px to spare: the last row fits, not by a hair
    });
    var give = [0, 0, 0], left = total, n = 3;
    [0, 1, 2].sort(function (a, b) { return wants[a] - wants[b]; }).forEach(function (i) {
      give[i] = Math.min(wants[i], left / n);
      left -= give[i];
      n -= 1;
    });
    // the rows as shares (fr): what is left when all have what they need is shared alike, and
    // a new screen size keeps the same division
    var rows = "auto " + give.map(function (g) { return "minmax(0, " + Math.max(1, Math.round(g)) + "fr)"; }).join(" ");
    if (rows !== share.rows) {
      share.rows = rows;
      root.style.gridTemplateRows = rows;
    }
  }

  // Each list is fitted again when its size changes (the banner comes or goes, a panel is
  // turned into view, the screen is resized): redraw() draws it again from what it holds.
  var watched = {};
  function refitOnResize(id, redraw) {
    var list = document.getElementById(id);
    if (!list || !window.ResizeObserver) { return; }
    if (watched[id] && watched[id].el === list) { watched[id].redraw = redraw; return; }
    if (watched[id]) { watched[id].observer.disconnect(); }
    var entry = {el: list, redraw: redraw, size: null};
    entry.observer = new ResizeObserver(function () {
      var size = list.clientWidth + "x" + list.clientHeight;
      if (size === entry.size) { return; }
      entry.size = size;
      if (onWall()) { entry.redraw(); }
    });
    entry.observer.observe(list);
    watched[id] = entry;
  }

  function regionLabel(code) {
    var regions = (wall.seed && wall.seed.regions) || {};
    return code ? (regions[code] || code) : "no region";
  }

  // -- incidents -------------------------------------------------------------------------

  // How many of ours an incident affects, and how many of them need help: counts, never names
  // (crisis_people.js keeps them from the roll-call and the "affected" pushes).
  function oursText(id) { return window.crisisPeople ? window.crisisPeople.oursText(id) : ""; }

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
    var list = document.getElementById("wall-incident-list");
    var footer = document.getElementById("wall-incidents-more");
    if (!list || !footer) { return; }
    var most = (wall.seed && wall.seed.max_incidents) || 50;  // as many as fit, unless `incidents=` says fewer
    var candidates = open.slice(0, most);
    var key = candidates.map(function (i) { return i.id + ":" + i.severity + ":" + i.status + ":" + i.title + ":" + oursText(i.id); }).join("|")
      + "/" + open.length + "/" + Math.floor(Date.now() / 30000) + "/" + list.clientWidth + "x" + list.clientHeight;
    if (key === wall.listKey) { return; }
    wall.listKey = key;
    var rows = candidates.map(function (i) {
      // every country it spans (the first three, then "+N", as the duty officer's list says it)
      var where = window.crisisLive.countriesText(i) || regionLabel(i.region);
      var ours = oursText(i.id), help = ours && window.crisisPeople.ours(i.id).needs_help > 0;
      return el("li", "wall-incident sev-" + i.severity, [
        el("span", "wall-sev-badge sev-bg-" + i.severity, String(i.severity)),
        el("span", "wall-incident-title", i.title),
        el("span", "wall-incident-meta", [
          ours ? el("span", "wall-incident-ours" + (help ? " need-help" : ""), ours + " | ") : null,
          where + " | " + i.status + " | " + ageText(i.occurred_at || i.reported_at)
        ].filter(Boolean))
      ], {"data-incident-id": i.id});
    });
    // Every open incident not in a row is counted: those past `incidents=` and those that do not fit.
    fitList(list, rows, function (shown) {
      var more = open.length - shown;
      return {more: more > 0, words: open.length === 0 ? "No open incidents." :
        (more > 0 ? plural(more, "more open incident") + " not shown (" + open.length + " open in all)"
                  : "All " + plural(open.length, "open incident") + " shown.")};
    }, footer);
    refitOnResize("wall-incident-list", function () { wall.listKey = null; renderIncidents(openIncidents()); });
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
    wall.accountabilityRows = rows;
    drawAccountabilityRows();
  }

  // Each incident or area on two lines or more, never cut: its name (up to two lines), then
  // how many people, the share accounted for and the counts (wrapping, the total first).
  function drawAccountabilityRows() {
    var list = document.getElementById("wall-accountability-list");
    if (!list) { return; }
    var rows = wall.accountabilityRows || [];
    var items = rows.map(function (r) {
      return el("li", "wall-row wall-row-wide" + (r.counts.needs_help ? " loud" : ""), [
        el("span", "wall-row-name", r.name),
        el("span", "wall-row-figure", pctText(r.pct)),
        el("span", "wall-row-detail", "of " + plural(r.counts.total, "person", "people") + ": " + countsText(r.counts))
      ], {"data-kind": r.kind});
    });
    fitList(list, items, function (shown) {
      var more = rows.length - shown;
      return {more: more > 0, words: more > 0 ? plural(more, "more incident or area", "more incidents or areas") + " not shown" : ""};
    });
    refitOnResize("wall-accountability-list", drawAccountabilityRows);
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
    wall.movementRows = rows;
    drawMovementRows();
  }

  function drawMovementRows() {
    var list = document.getElementById("wall-movements-list");
    if (!list) { return; }
    var rows = wall.movementRows || [];
    var items = rows.map(function (m) {
      var c = m.counts;
      return el("li", "wall-row wall-row-wide" + (c.overdue ? " loud" : ""), [
        el("span", "wall-row-name", m.action + ": " + m.name + (m.haven ? " to " + m.haven : "")),
        el("span", "wall-row-figure", (c.arrived || 0) + " / " + (c.total || 0) + " arrived"),
        el("span", "wall-row-detail", (c.moving || 0) + " moving | " + (c.to_move || 0) + " to move" +
          (c.stayed ? " | " + c.stayed + " stayed" : "") + (c.overdue ? " | " + c.overdue + " OVERDUE" : ""))
      ]);
    });
    fitList(list, items, function (shown) {
      var more = rows.length - shown;
      return {more: more > 0, words: more > 0 ? plural(more, "more movement") + " not shown" : ""};
    });
    refitOnResize("wall-movements-list", drawMovementRows);
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
    wall.rosterRows = {regions: Object.keys(s.by_region || {}).sort().map(function (k) {
      return (k === "worldwide" ? "worldwide" : regionLabel(k)) + " " + s.by_region[k];
    }), warnings: now.concat(warnings.filter(function (w) { return now.indexOf(w) < 0; })), now: now};
    drawRosterRows();
  }

  // Standby by region, the officers sent (the soonest three), then the warnings (in force
  // first): as many as fit; the line under them counts each kind left out.
  function drawRosterRows() {
    var list = document.getElementById("wall-roster-warnings");
    var r = wall.rosterRows;
    if (!list || !r) { return; }
    var items = [];
    if (r.regions.length) {
      items.push(el("li", "wall-row wall-row-plain", [el("span", "wall-row-name", "Standby by region: " + r.regions.join(" | "))],
                    {"data-kind": "regions"}));
    }
    var sent = dispatchRows();
    items = items.concat(sent.rows);
    r.warnings.forEach(function (w) {
      var inForce = r.now.indexOf(w) >= 0;
      items.push(el("li", "wall-row wall-warning" + (inForce ? " loud" : ""), [
        el("span", "wall-row-name", w.message || "Coverage warning"),
        el("span", "wall-row-figure", inForce ? "NOW" : "")
      ], {"data-kind": "warning"}));
    });
    var key = sent.key + "/" + JSON.stringify(r) + "/" + list.clientWidth + "x" + list.clientHeight;
    if (key === wall.rosterKey) { return; }
    wall.rosterKey = key;
    fitList(list, items, function (shown) {
      var left = {warning: 0, dispatch: sent.notListed, regions: 0};
      items.slice(shown).forEach(function (li) {
        var kind = li.getAttribute("data-kind");
        if (kind in left) { left[kind] += 1; }
      });
      var parts = [];
      if (left.regions) { parts.push("standby by region"); }
      if (left.dispatch) { parts.push(plural(left.dispatch, "more officer") + " sent"); }
      if (left.warning) { parts.push(plural(left.warning, "more warning")); }
      return {more: parts.length > 0, words: parts.length ? parts.join(", ") + " not shown" : ""};
    });
    refitOnResize("wall-roster-warnings", function () { wall.rosterKey = null; drawRosterRows(); });
  }

  // Officers sent and not yet back (crisis_dispatch.js holds them; a wall gets no names): to
  // which incident, and when they arrive. The map's ETA labels give way to its markers, and a
  // wall cannot hover to show a hidden one: this list always says it.
  function dispatchRows() {
    var d = window.crisisDispatch, live = window.crisisLive && window.crisisLive.state;
    var none = {rows: [], notListed: 0, key: ""};
    if (!d || !d.state) { return none; }
    var sent = Object.keys(d.state.dispatches).map(function (k) { return d.state.dispatches[k]; })
      .filter(function (x) { return x.status !== "stood_down"; });
    if (!sent.length) { return none; }
    // The soonest to arrive first; those on site already after them (their ETA is past).
    sent.sort(function (a, b) {
      return ((a.status === "on_site") - (b.status === "on_site")) || String(a.eta || "~").localeCompare(String(b.eta || "~"));
    });
    var rows = [el("li", "wall-row wall-row-plain wall-dispatch-total",
                   [el("span", "wall-row-name", plural(sent.length, "officer") + " sent")], {"data-kind": "dispatch-total"})];
    var texts = [];
    sent.slice(0, DISPATCH_ROWS).forEach(function (x) {
      var m = live && live.incidents.get(x.incident_id);
      var title = m ? m.incident.title : "an incident", eta = d.etaText(x);
      texts.push(x.id + ":" + title + ":" + eta);
      rows.push(el("li", "wall-row wall-dispatch", [
        el("span", "wall-row-name", title),
        el("span", "wall-row-figure", ""),
        el("span", "wall-row-detail", eta)
      ], {"data-dispatch": x.id || "", "data-kind": "dispatch"}));
    });
    // Those past the soonest three are counted in the line under the list.
    return {rows: rows, notListed: Math.max(0, sent.length - DISPATCH_ROWS), key: sent.length + ":" + texts.join("|")};
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

  // -- the header's badges -----------------------------------------------------------------

  // The shell's badges (people needing help, cover warnings, feeds) are links: a wall shows no
  // links (wall.css hides them), so their words and state are copied into plain text in the
  // header, larger. Their words are counts ("2 PEOPLE NEED HELP", "COVER: 3 warnings (1 now)")
  // or feeds' names ("FEEDS: gdacs silent"), never a person's name.
  var BADGES = ["needs-help-badge", "roster-badge", "live-feeds"];
  function mirrorBadges() {
    var header = document.querySelector(".shell-header");
    if (!header) { return; }
    var box = document.getElementById("wall-header-badges");
    if (!box) {
      box = el("div", "wall-header-badges", null, {id: "wall-header-badges"});
      BADGES.forEach(function (id) { box.appendChild(el("span", "wall-badge", null, {"data-badge": id})); });
      header.appendChild(box);
    }
    BADGES.forEach(function (id) {
      var source = document.getElementById(id);
      var copy = box.querySelector("[data-badge='" + id + "']");
      var text = source ? source.textContent.trim() : "";
      var state = source ? (source.className.split(/\s+/).filter(function (c) { return c !== id; })[0] || "") : "none";
      var cls = "wall-badge wall-badge-" + id + " " + (text ? state || "ok" : "none");
      if (copy.textContent !== text) { copy.textContent = text; }
      if (copy.className !== cls) { copy.className = cls; }
    });
  }

  // -- wiring ----------------------------------------------------------------------------

  function tick() {
    if (!onWall()) { return; }
    mirrorBadges();
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

  // Our people in an incident changed: its row says so.
  document.addEventListener("crisis:ours", function () {
    if (onWall()) { renderIncidents(openIncidents()); }
  });
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
  // A failover (crisis:reread, crisis_live.js; also after a reconnection): what the wall was seeded with (movements under
  // way) may hold what the new server never had. A wall has no one to re-read it for: it loads
  // again (its display session survives; the picture of the map is in the first HTML).
  document.addEventListener("crisis:reread", function () {
    if (onWall()) { window.location.reload(); }
  });
  document.addEventListener("crisis:dispatches", function () { if (onWall()) { renderRoster(); } });
  document.addEventListener("crisis:roster", function (e) {
    if (!onWall() || !e.detail) { return; }
    wall.roster = e.detail;
    renderRoster();
  });

  window.crisisWall = {state: wall, places: places, fitWorld: fitWorld, ageText: ageText};

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    wall: function (seed) {
      if (seed) { start(seed); }
      // The officers sent, whichever panels are shown: without the map panel nothing else
      // reads them (crisis_dispatch.js reads them when a map is wired).
      if (window.crisisDispatch && window.crisisDispatch.fetchActive) { window.crisisDispatch.fetchActive(); }
      return Date.now();
    }
  });
})();
