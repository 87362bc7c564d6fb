/* Stacked incidents on the live map (the duty officer's and a desk's /, the board's map).
 *
 * Incidents closer on the screen than a marker's width are one place: one marker, coloured
 * by its most severe incident and wider, with the count on it; a hover on it lists the
 * place's incidents; a click opens its most severe one (and the map moves to it,
 * crisis_workspace.js, which at zoom 5 or more usually separates them). The grouping is
 * crisis/layers/incidents.py `stack`, done the same way here (Web Mercator at the map's
 * zoom, the same order, the same key): it changes with the zoom only, so crisis_live.js
 * asks again at each zoomend and patches the incident trace only when the places changed
 * (one map frame, ADR 009). Every incident keeps its point in the trace, the others of a
 * place transparent, so a hover or a click on any of them is the place's.
 * The counts are HTML labels over the map (the offline style has no glyphs for map text),
 * moved with the map; they take no pointer events (a click goes to the marker under them).
 * No inline script (the Content-Security-Policy forbids it): this is a static asset.
 */
(function () {
  "use strict";

  var MARKER_PX = 18;     // a marker's width on the screen (crisis/layers/incidents.py MARKER_PX)
  var STACKED_PX = 26;    // a place of several incidents (STACKED_PX)
  var OPACITY = 0.95;
  var WORLD_PX = 512;     // the world's width at zoom 0 (MapLibre's 512 px tiles)
  var MAX_LAT = 85.0511287798;
  var HOVER_LINES = 10;
  var BOX = "incident-counts";

  function line(i) { return i.title + " (severity " + i.severity + ", " + i.status + ")"; }

  function screen(i, world) {
    var lat = Math.max(-MAX_LAT, Math.min(MAX_LAT, Number(i.lat)));
    var x = (Number(i.lon) + 180.0) / 360.0 * world;
    var y = (1.0 - Math.log(Math.tan(Math.PI / 4 + lat * (Math.PI / 180) / 2)) / Math.PI) / 2.0 * world;
    return [x, y];
  }

  // Most severe first, then the latest update, then by id (as incidents.py stack).
  function worstFirst(a, b) {
    var i = a.incident, j = b.incident;
    if (i.severity !== j.severity) { return j.severity - i.severity; }
    var ui = String(i.updated_at || ""), uj = String(j.updated_at || "");
    if (ui !== uj) { return ui < uj ? 1 : -1; }
    return i.id < j.id ? -1 : (i.id > j.id ? 1 : 0);
  }

  // The open incident messages as places at `zoom`: [[message, ...], ...], the worst first.
  function stack(messages, zoom) {
    var world = WORLD_PX * Math.pow(2.0, zoom);
    var sorted = messages.filter(function (m) { return m.incident.status !== "closed"; }).sort(worstFirst);
    var places = [];
    sorted.forEach(function (m) {
      var p = screen(m.incident, world);
      for (var g = 0; g < places.length; g++) {
        var dx = Math.abs(places[g].x - p[0]);
        dx = Math.min(dx, world - dx);  // across the antimeridian
        var dy = places[g].y - p[1];
        if (dx * dx + dy * dy < MARKER_PX * MARKER_PX) { places[g].members.push(m); return; }
      }
      places.push({x: p[0], y: p[1], members: [m]});
    });
    return places.map(function (g) { return g.members; });
  }

  function key(places) {
    return places.map(function (members) { return members.map(function (m) { return m.incident.id; }).join(","); }).join("|");
  }

  function hover(members) {
    if (members.length === 1) { return line(members[0].incident); }
    var lines = ["<b>" + members.length + " incidents here</b> (a click opens the most severe)"];
    members.slice(0, HOVER_LINES).forEach(function (m) { lines.push(line(m.incident)); });
    if (members.length > HOVER_LINES) { lines.push("and " + (members.length - HOVER_LINES) + " more"); }
    return lines.join("<br>");
  }

  // The trace's columns that the places decide, for the points `open` (the trace's order),
  // and each incident's place's worst incident (what a click on it opens).
  function columns(open, places) {
    var of = new Map();
    places.forEach(function (members) {
      var text = hover(members), worst = members[0].incident.id;
      members.forEach(function (m, n) {
        of.set(m.incident.id, {text: text, worst: worst, opacity: n ? 0 : OPACITY,
                               size: n === 0 && members.length > 1 ? STACKED_PX : MARKER_PX});
      });
    });
    var none = {text: "", opacity: 0, size: MARKER_PX};
    return {
      hovertext: open.map(function (m) { return (of.get(m.incident.id) || none).text; }),
      opacity: open.map(function (m) { return (of.get(m.incident.id) || none).opacity; }),
      size: open.map(function (m) { return (of.get(m.incident.id) || none).size; }),
      worst: of
    };
  }

  // -- the counts over the map -------------------------------------------------------------

  function box(map) {
    var container = map.getContainer();
    var el = container.querySelector("." + BOX);
    if (!el) {
      el = document.createElement("div");
      el.className = BOX;
      container.appendChild(el);
      map.on("move", function () { placeCounts(map); });
      map.on("resize", function () { placeCounts(map); });
    }
    return el;
  }

  // One label per place of several incidents, on its marker (its worst incident).
  function showCounts(map, places) {
    if (!map || !map.getContainer) { return; }
    var el = box(map);
    var labels = [];
    (places || []).forEach(function (members) {
      if (members.length < 2) { return; }
      var i = members[0].incident;
      labels.push({id: i.id, n: members.length, severity: i.severity, lon: Number(i.lon), lat: Number(i.lat)});
    });
    var html = labels.map(function (l) {
      return "<div class=\"incident-count sev-" + l.severity + "\" data-count=\"" + l.n + "\" data-incident-id=\"" +
        String(l.id).replace(/[&"<>]/g, "") + "\">" + l.n + "</div>";
    }).join("");
    if (el.__html !== html) {
      el.innerHTML = html;
      el.__html = html;
      Array.prototype.forEach.call(el.children, function (child, n) { child.__at = [labels[n].lon, labels[n].lat]; });
    }
    placeCounts(map);
    // The markers changed: labels that keep clear of them place themselves again (crisis_dispatch.js).
    document.dispatchEvent(new CustomEvent("crisis:places"));
  }

  function placeCounts(map) {
    var el = map.getContainer().querySelector("." + BOX);
    if (!el || !el.children.length) { return; }
    var centre = map.getCenter().lng;
    Array.prototype.forEach.call(el.children, function (label) {
      var lon = label.__at[0];
      lon += 360 * Math.round((centre - lon) / 360);  // the world copy in view
      var p = map.project([lon, label.__at[1]]);
      label.style.transform = "translate(" + p.x.toFixed(1) + "px," + p.y.toFixed(1) + "px) translate(-50%,-50%)";
    });
  }

  // The incident markers drawn now, as circles on the map's canvas ({x, y, r} in px), for the
  // labels that must not cover them (crisis_dispatch.js). Off-screen ones are left out.
  function markerCircles(map) {
    var wall = window.crisisWall && window.crisisWall.state;
    if (map && wall && wall.map === map) { return wallCircles(); }
    var live = window.crisisLive && window.crisisLive.state;
    var places = live && live.drawn && live.drawn.stacked;
    if (!map || !places) { return []; }
    var canvas = map.getCanvas(), w = canvas.clientWidth, h = canvas.clientHeight;
    var centre = map.getCenter().lng, out = [];
    places.forEach(function (members) {
      var i = members[0].incident, lon = Number(i.lon);
      lon += 360 * Math.round((centre - lon) / 360);
      var p = map.project([lon, Number(i.lat)]), r = (members.length > 1 ? STACKED_PX : MARKER_PX) / 2;
      if (p.x < -r || p.y < -r || p.x > w + r || p.y > h + r) { return; }
      out.push({x: p.x, y: p.y, r: r});
    });
    return out;
  }

  // On the wall the incidents are its own marker elements (crisis_wall.js drawMarkers), placed
  // at their point in the map's pixels: the circles are theirs.
  function wallCircles() {
    var box = document.getElementById("wall-markers"), out = [];
    if (!box) { return out; }
    Array.prototype.forEach.call(box.children, function (m) {
      var x = parseFloat(m.style.left), y = parseFloat(m.style.top);
      if (!isNaN(x) && !isNaN(y)) { out.push({x: x, y: y, r: m.offsetWidth / 2}); }
    });
    return out;
  }

  window.crisisPlaces = {
    MARKER_PX: MARKER_PX, STACKED_PX: STACKED_PX, OPACITY: OPACITY,
    stack: stack, key: key, hover: hover, line: line, columns: columns, showCounts: showCounts,
    markerCircles: markerCircles
  };
})();
