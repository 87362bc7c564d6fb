/* Surge dispatches in the browser: on the live map, on the incident page, on the dispatch page.
 *
 * - The live map (window.crisisLive.onMap): each active dispatch is a line from the
 *   officer's home towards the incident (the great-circle "path" the read model gives),
 *   a dot at the position the officer last reported, and a label with the expected
 *   arrival (and the officer's name, for the roles that receive it: a wall gets none).
 *   A label never covers an incident marker or another label: it takes the first free
 *   side of its point, else it is hidden until the pointer is on the dispatch (placeLabels).
 *   Source "crisis-dispatches" (GeoJSON), layers below the travellers and the incidents.
 * - First data from GET /api/v1/dispatches?status=active; live from the socket's
 *   "dispatch" messages (crisis:dispatch, re-announced by crisis_live.js): a dispatch
 *   that is no longer active leaves the map.
 * - "Who is coming" for the incident picked on the map (crisis:incident-picked) in the
 *   map-coming panel of the live map page.
 * - On the incident page and the dispatch page, a dispatch message asks the server
 *   callback to re-read ("incident-coming-live", "dispatch-live" stores, set_props).
 * No inline script (the Content-Security-Policy forbids it): this is a static asset.
 */
(function () {
  "use strict";

  var SOURCE = "crisis-dispatches";
  var LINES = "crisis-dispatch-lines";
  var HOMES = "crisis-dispatch-homes";
  var POSITIONS = "crisis-dispatch-positions";
  var LAYERS = [LINES, HOMES, POSITIONS];
  var ACTIVE = ["requested", "accepted", "travelling", "on_site", "stood_down"];
  var LABELS = {requested: "requested", accepted: "accepted", travelling: "travelling", on_site: "on site",
                stood_down: "stood down", returned: "returned", declined: "declined"};

  var state = {
    dispatches: {},   // key -> dispatch (as this viewer may receive it), active only
    heard: {},        // keys heard live before the first fetch answered
    fetched: false,
    fetching: false,
    maps: [],
    picked: null,
    rev: 0,
    timers: {}
  };

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) { window.dash_clientside.set_props(id, props); }
  }

  function el(type, props) {
    return {type: type, namespace: "dash_html_components", props: props || {}};
  }

  function keyOf(d) {
    return d.id || [d.incident_id, d.created_at, d.origin && d.origin.name].join("|");
  }

  function isActive(d) { return ACTIVE.indexOf(d.status) >= 0; }

  function fmtTime(iso) {
    if (!iso) { return "unknown"; }
    var t = new Date(iso);
    if (isNaN(t.getTime())) { return String(iso); }
    return t.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function etaText(d) {
    if (d.status === "on_site") { return "on site"; }
    if (d.status === "stood_down") { return "stood down"; }
    return "ETA " + fmtTime(d.eta);
  }

  function labelText(d) {
    var who = d.officer_name || "";
    return (who ? who + " - " : "") + etaText(d);
  }

  function pathOf(d) {
    if (d.path && d.path.length > 1) { return d.path; }
    var o = d.origin, t = d.destination;
    if (o && t && o.lon != null && t.lon != null) { return [[o.lon, o.lat], [t.lon, t.lat]]; }
    return null;
  }

  function features() {
    var out = [];
    Object.keys(state.dispatches).forEach(function (k) {
      var d = state.dispatches[k];
      var path = pathOf(d);
      var props = {key: k, id: d.id || null, incident_id: d.incident_id || null, status: d.status,
                   eta: d.eta || null, label: labelText(d)};
      if (path) {
        out.push({type: "Feature", geometry: {type: "LineString", coordinates: path}, properties: Object.assign({kind: "line"}, props)});
        out.push({type: "Feature", geometry: {type: "Point", coordinates: path[0]}, properties: Object.assign({kind: "home"}, props)});
      }
      var p = d.position;
      if (p && p.lat != null && p.lon != null) {
        out.push({type: "Feature", geometry: {type: "Point", coordinates: [p.lon, p.lat]},
                  properties: Object.assign({kind: "position", at: p.at || null}, props)});
      }
    });
    return {type: "FeatureCollection", features: out};
  }

  function firstTraceLayer(map) {
    var found;
    (map.getStyle().layers || []).some(function (l) {
      if (l.id.indexOf("plotly-trace-layer-") === 0) { found = l.id; return true; }
      return false;
    });
    return found;
  }

  // Below the travellers (crisis_live.js keeps them just below the incidents), else below the incidents.
  function beforeId(map) {
    var trav = window.crisisLive && window.crisisLive.TRAV_LAYERS;
    if (trav && map.getLayer(trav[0])) { return trav[0]; }
    return firstTraceLayer(map);
  }

  function addLayers(map) {
    if (map.getSource(SOURCE)) { return true; }
    try {
      map.addSource(SOURCE, {type: "geojson", data: features()});
    } catch (err) {
      return false;  // the style is not loaded yet: "styledata" tries again
    }
    var before = beforeId(map);
    map.addLayer({id: LINES, type: "line", source: SOURCE, filter: ["==", ["get", "kind"], "line"],
                  layout: {"line-cap": "round", "line-join": "round"},
                  paint: {"line-color": ["match", ["get", "status"], "requested", "#7b61ff", "on_site", "#1b5e20", "#0b57d0"],
                          "line-width": 3, "line-opacity": 0.85,
                          "line-dasharray": ["literal", [2, 1.5]]}}, before);
    map.addLayer({id: HOMES, type: "circle", source: SOURCE, filter: ["==", ["get", "kind"], "home"],
                  paint: {"circle-radius": 4, "circle-color": "#ffffff", "circle-stroke-color": "#0b57d0", "circle-stroke-width": 2}}, before);
    map.addLayer({id: POSITIONS, type: "circle", source: SOURCE, filter: ["==", ["get", "kind"], "position"],
                  paint: {"circle-radius": 7, "circle-color": "#0b57d0", "circle-stroke-color": "#ffffff", "circle-stroke-width": 2}}, before);
    drawLabels(map);
    return true;
  }

  function keepOrder(map) {
    if (!map.getLayer(LINES)) { return; }
    var ids = map.getStyle().layers.map(function (l) { return l.id; });
    var before = beforeId(map);
    var at = before ? ids.indexOf(before) : ids.length;
    // Moved only when out of place (a layer moved is a map frame more): in order, under the
    // travellers (or the incidents), over every basemap or area layer.
    var lines = ids.indexOf(LINES), homes = ids.indexOf(HOMES), positions = ids.indexOf(POSITIONS), under = false;
    for (var i = lines + 1; i < ids.length; i++) {
      if (ids[i].indexOf("plotly-layout-layer-") === 0) { under = true; break; }
    }
    if (!(lines < homes && homes < positions && positions < at) || under) {
      LAYERS.forEach(function (id) { map.moveLayer(id, before); });
    }
  }

  // Where a label may go around its point, in order (dx, dy of its top-left corner; w, h its
  // size): right, right above, right below, left, left above, left below.
  var SIDES = [
    function (w, h) { return [8, -h / 2]; }, function (w, h) { return [8, -h - 6]; }, function () { return [8, 6]; },
    function (w, h) { return [-w - 8, -h / 2]; }, function (w, h) { return [-w - 8, -h - 6]; }, function (w) { return [-w - 8, 6]; }
  ];
  var MARGIN = 2;  // px kept free around a marker

  function coversCircle(box, c) {
    var x = Math.max(box[0], Math.min(c.x, box[2])), y = Math.max(box[1], Math.min(c.y, box[3]));
    var dx = c.x - x, dy = c.y - y, r = c.r + MARGIN;
    return dx * dx + dy * dy < r * r;
  }

  function coversBox(a, b) { return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]; }

  // The expected arrival as an HTML label beside the line (the map's style has no glyphs
  // for text layers): at the reported position, else at the home end; moved with the map.
  function labelBox(map) {
    var box = map.getContainer().querySelector(".dispatch-labels");
    if (!box) {
      box = document.createElement("div");
      box.className = "dispatch-labels";
      map.getContainer().appendChild(box);
      map.on("move", function () { placeLabels(map); });
      map.on("resize", function () { placeLabels(map); });
      // A label hidden for want of room shows while the pointer is on its dispatch.
      var hovering = null;
      map.on("mousemove", function (e) {
        if (!map.getLayer(POSITIONS)) { return; }
        var pad = 6, hit = map.queryRenderedFeatures([[e.point.x - pad, e.point.y - pad], [e.point.x + pad, e.point.y + pad]],
                                                     {layers: LAYERS.filter(function (l) { return map.getLayer(l); })});
        var key = hit.length ? hit[0].properties.key : null;
        if (key !== hovering) { hovering = key; box.__hovered = key; placeLabels(map); }
      });
    }
    return box;
  }

  function drawLabels(map) {
    var box = labelBox(map);
    box.textContent = "";
    Object.keys(state.dispatches).forEach(function (k) {
      var d = state.dispatches[k];
      var path = pathOf(d);
      var at = d.position && d.position.lon != null ? [d.position.lon, d.position.lat] : (path ? path[0] : null);
      if (!at) { return; }
      var label = document.createElement("div");
      label.className = "dispatch-label status-" + d.status;
      label.textContent = labelText(d);
      label.setAttribute("data-dispatch", k);
      label.__at = at;
      box.appendChild(label);
    });
    placeLabels(map);
  }

  // Each label on the first side of its point where it covers no incident marker
  // (crisis_places.js markerCircles) and no label placed before it; none free: hidden (shown
  // while the pointer is on its dispatch, on its first side). Sizes are read once per text.
  function placeLabels(map) {
    var box = map.getContainer().querySelector(".dispatch-labels");
    if (!box) { return; }
    var circles = window.crisisPlaces ? window.crisisPlaces.markerCircles(map) : [];
    var taken = [];
    Array.prototype.forEach.call(box.children, function (label) {
      var p = map.project(label.__at);
      if (!label.__size || !label.__size[0]) { label.__size = [label.offsetWidth, label.offsetHeight]; }
      var w = label.__size[0], h = label.__size[1], place = null;
      for (var s = 0; s < SIDES.length && place === null; s++) {
        var d = SIDES[s](w, h), at = [p.x + d[0], p.y + d[1]], rect = [at[0], at[1], at[0] + w, at[1] + h];
        if (!circles.some(function (c) { return coversCircle(rect, c); }) &&
            !taken.some(function (t) { return coversBox(rect, t); })) { place = at; taken.push(rect); }
      }
      var hovered = box.__hovered && label.getAttribute("data-dispatch") === box.__hovered;
      if (place === null && hovered) { var first = SIDES[0](w, h); place = [p.x + first[0], p.y + first[1]]; }
      var hidden = place === null;
      if (label.classList.contains("dispatch-label-hidden") !== hidden) { label.classList.toggle("dispatch-label-hidden", hidden); }
      if (!hidden) { label.style.transform = "translate(" + Math.round(place[0]) + "px," + Math.round(place[1]) + "px)"; }
    });
  }

  function redraw() {
    state.rev += 1;
    state.maps.forEach(function (map) {
      var source = map.getSource(SOURCE);
      if (source) { source.setData(features()); drawLabels(map); }
    });
    renderComing();
    document.dispatchEvent(new CustomEvent("crisis:dispatches"));  // the wall lists them (crisis_wall.js)
  }

  function apply(d) {
    if (!d) { return; }
    var k = keyOf(d);
    if (isActive(d)) { state.dispatches[k] = d; } else { delete state.dispatches[k]; }
  }

  function fetchActive() {
    if (state.fetching || state.fetched) { return; }
    state.fetching = true;
    fetch("/api/v1/dispatches?status=active", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        state.fetching = false;
        state.fetched = true;
        var list = Array.isArray(body) ? body : (body && (body.dispatches || body.items)) || [];
        list.forEach(function (d) { if (!state.heard[keyOf(d)]) { apply(d); } });
        redraw();
      })
      .catch(function () { state.fetching = false; setTimeout(fetchActive, 3000); });
  }

  function wire(map) {
    if (state.maps.indexOf(map) < 0) { state.maps.push(map); }
    fetchActive();
    if (!addLayers(map)) {
      var retry = function () { if (addLayers(map)) { map.off("styledata", retry); } };
      map.on("styledata", retry);
    }
    map.on("styledata", function () {
      if (!map.getSource(SOURCE)) { addLayers(map); } else { keepOrder(map); }
    });
  }

  // -- who is coming to the picked incident (live map page) --------------------------------

  function comingTo(incidentId) {
    var out = [];
    Object.keys(state.dispatches).forEach(function (k) {
      var d = state.dispatches[k];
      if (d.incident_id === incidentId) { out.push(d); }
    });
    out.sort(function (a, b) { return String(a.eta || "").localeCompare(String(b.eta || "")); });
    return out;
  }

  function renderComing() {
    if (!state.picked || !document.getElementById("map-coming")) { return; }
    var coming = comingTo(state.picked);
    var children = [el("H3", {children: "Coming (" + coming.length + ")"})];
    if (!coming.length) {
      children.push(el("P", {className: "map-people-note", children: "No officer dispatched to this incident."}));
    } else {
      children.push(el("Ul", {className: "coming-list", children: coming.map(function (d) {
        return el("Li", {className: "coming-item status-" + d.status, children: [
          el("Span", {className: "coming-who", children: d.officer_name || "an officer"}),
          el("Span", {className: "coming-status", children: LABELS[d.status] || d.status}),
          el("Span", {className: "coming-eta", children: etaText(d)})
        ]});
      })}));
    }
    setProps("map-coming", {children: children, style: {display: "block"}});
  }

  // Incident markers moved (a new incident, places regrouped): labels keep clear of them.
  document.addEventListener("crisis:places", function () {
    state.maps.forEach(function (map) { if (map.getContainer().isConnected) { placeLabels(map); } });
  });

  // A failover (crisis:reread, crisis_live.js; also after a reconnection): the dispatches held here may include what the
  // new server never had (a dispatch whose WAIT failed): dropped, and read again from it.
  document.addEventListener("crisis:reread", function () {
    state.dispatches = {};
    state.heard = {};
    state.fetched = false;
    redraw();
    renderComing();
    fetchActive();
  });

  document.addEventListener("crisis:incident-picked", function (e) {
    state.picked = e.detail && e.detail.id;
    fetchActive();
    renderComing();
  });

  // -- live ---------------------------------------------------------------------------------

  // A store has no element of its own: the marker is an element of the page that holds it.
  function refresh(storeId, marker, data) {
    if (!document.getElementById(marker)) { return; }
    if (state.timers[storeId]) { return; }
    state.timers[storeId] = setTimeout(function () {
      delete state.timers[storeId];
      if (document.getElementById(marker)) { setProps(storeId, {data: Object.assign({rev: state.rev}, data)}); }
    }, 300);
  }

  document.addEventListener("crisis:dispatch", function (e) {
    var msg = e.detail;
    var d = msg && msg.dispatch;
    if (!d) { return; }
    state.heard[keyOf(d)] = true;
    apply(d);
    redraw();
    refresh("incident-coming-live", "incident-coming", {incident: d.incident_id || null, event: msg.event});
    refresh("dispatch-live", "dispatch-page", {incident: d.incident_id || null, event: msg.event});
  });

  // The dispatch page's incident list (titles, severities, new and closed incidents) follows
  // the incidents live: a message re-reads it (crisis/ui/pages/dispatch.py incident_options).
  function onIncidentMessage(msg) {
    var i = msg && msg.incident;
    if (!i || !document.getElementById("dispatch-page")) { return; }
    refresh("dispatch-incidents-live", "dispatch-page", {incident: i.id || null});
  }

  function start() {
    if (window.crisisLive && window.crisisLive.onMap) {
      window.crisisLive.onMap(wire);
      if (window.crisisLive.onIncident) { window.crisisLive.onIncident(onIncidentMessage); }
      return;
    }
    setTimeout(start, 100);
  }
  start();

  window.crisisDispatch = {state: state, SOURCE: SOURCE, LAYERS: LAYERS, features: features, etaText: etaText,
                          fetchActive: fetchActive};
})();
