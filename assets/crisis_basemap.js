/* The offline basemap's map-wide settings, on every map of every page.
 *
 * - The world is drawn once: no repeated copies of the world (and of every marker) side
 *   by side on a wide screen (MapLibre's renderWorldCopies off).
 * - Zoomed in (from the zoom where the figure's 1:110m countries stop, map_figure.DETAIL_ZOOM),
 *   the 1:10m detail: land and its coasts, borders between countries and between first-level
 *   subdivisions (assets/basemap/detail/<west>_<south>.geojson, 30-degree cells, built by
 *   scripts/build_basemap.py). Only the cells in view are fetched, and only when the map
 *   comes within a zoom level of it, so the world view loads and draws what it did before.
 * - Names of populated places (GeoNames, assets/basemap/places.json) as page elements over
 *   the map: the largest places in view that do not overlap, laid out when the view
 *   settles and moved with the map. No glyph server is needed (none may be reached: the
 *   centre works offline and the Content-Security-Policy allows none).
 * Nothing here for a map drawn from a tile server's style (CRISIS_MAP_STYLE online): that
 * style has its own detail and names.
 */
(function () {
  "use strict";

  var BASE = "/assets/basemap/";
  var COUNTRIES = BASE + "countries.geojson";
  var PREFETCH = 1;       // zoom levels before the detail shows, its files are fetched
  var LABEL_ZOOM = 3;     // names of places from this zoom on
  var MAX_LABELS = 40;
  var DETAIL = "crisis-detail-";  // a source per cell of the detail: crisis-detail-<west>_<south>
  var KINDS = ["land", "admin1", "border", "coast"];  // drawn in this order
  var MAX_CELLS = 12;     // cells kept on a map; the oldest out of view are dropped
  var cellIndex = null;   // {cell: 30, cells: ["30_30", ...]} (assets/basemap/detail/index.json)

  var places = null;      // [[lon, lat, population, name], ...], largest first
  var placesWaiting = [];
  var stats = {maps: 0, detail: 0, layouts: 0, labels: 0};

  function loadPlaces(then) {
    if (places) { then(); return; }
    placesWaiting.push(then);
    if (placesWaiting.length > 1) { return; }
    fetch(BASE + "places.json", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        places = body.places || [];
        var waiting = placesWaiting;
        placesWaiting = [];
        waiting.forEach(function (fn) { fn(); });
      })
      .catch(function (err) { placesWaiting = []; console.error(err); });
  }

  // The zoom where the figure's offline 1:110m layers stop, or null for an online style.
  function detailZoom(gd) {
    var layers = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map.layers;
    var base = layers && layers[0];
    if (!base || base.source !== COUNTRIES) { return null; }
    return typeof base.maxzoom === "number" && base.maxzoom < 24 ? base.maxzoom : null;
  }

  // The layer the detail goes under: the first one above the figure's 1:110m land (its first
  // layout layer, which Plotly names plotly-layout-layer-<uid>-0) that is neither the
  // figure's other basemap layers nor detail, i.e. the first incident or security area, the
  // travellers or a trace. Not "after the last basemap layer": the figure puts the
  // countries' line below the travellers layer, and on a map without one (the areas page)
  // Plotly then adds it on top, which put the detail's land over the areas and markers.
  // null while Plotly has not added its layers; undefined: on top (nothing above the land).
  function layerAboveBasemap(map, gd) {
    var fig = (gd._fullLayout.map.layers || []), n = 0;
    while (n < fig.length && fig[n].source === COUNTRIES) { n += 1; }
    var layers = map.getStyle().layers, land = -1;
    function basemap(id) {
      var m = /^plotly-layout-layer-.+-(\d+)$/.exec(id);
      return m !== null && Number(m[1]) < n;
    }
    layers.forEach(function (layer, i) { if (land < 0 && basemap(layer.id)) { land = i; } });
    if (land < 0) { return null; }
    for (var i = land + 1; i < layers.length; i += 1) {
      if (!basemap(layers[i].id) && layers[i].id.indexOf(DETAIL) !== 0) { return layers[i].id; }
    }
    return undefined;
  }

  function loadIndex(then) {
    if (cellIndex) { then(); return; }
    fetch(BASE + "detail/index.json", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (body) { cellIndex = body; then(); })
      .catch(function (err) { console.error(err); });
  }

  // The cells of the detail that the view touches (and that hold anything).
  function cellsInView(map) {
    var size = cellIndex.cell, b = map.getBounds(), out = [];
    var west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
    var south = Math.max(-90, b.getSouth()), north = Math.min(90, b.getNorth());
    for (var x = Math.floor((west + 180) / size) * size - 180; x < east; x += size) {
      for (var y = Math.floor((south + 90) / size) * size - 90; y < north; y += size) {
        var name = x + "_" + y;
        if (cellIndex.cells.indexOf(name) >= 0) { out.push(name); }
      }
    }
    return out;
  }

  function paints(gd) {
    // In the figure's own colours (a wall's dark map has its own).
    var fig = gd._fullLayout.map.layers, land = fig[0].color || "#dfe5ea";
    var coast = (fig[1] && fig[1].color) || "#8a99a8";
    return {
      land: {type: "fill", paint: {"fill-color": land}},
      admin1: {type: "line", paint: {"line-color": coast, "line-opacity": 0.7, "line-width": 0.7, "line-dasharray": [3, 2]}},
      border: {type: "line", paint: {"line-color": coast, "line-width": 1.2}},
      coast: {type: "line", paint: {"line-color": coast, "line-width": 0.7}}
    };
  }

  // Adds the cells in view not yet on the map; true once done (false: Plotly not ready).
  function addDetail(map, gd, zoom) {
    var before = layerAboveBasemap(map, gd);
    if (before === null) { return false; }  // Plotly has not drawn its layers yet
    var kept = map.__crisisCells || (map.__crisisCells = []);
    var want = cellsInView(map), look = paints(gd);
    want.forEach(function (name) {
      if (kept.indexOf(name) >= 0) { return; }
      while (kept.length >= MAX_CELLS) {
        var drop = kept.filter(function (c) { return want.indexOf(c) < 0; })[0];
        if (!drop) { break; }
        kept.splice(kept.indexOf(drop), 1);
        KINDS.forEach(function (k) { if (map.getLayer(DETAIL + drop + "-" + k)) { map.removeLayer(DETAIL + drop + "-" + k); } });
        map.removeSource(DETAIL + drop);
        before = layerAboveBasemap(map, gd);  // it may have been the dropped cell's land
      }
      var id = DETAIL + name;
      map.addSource(id, {type: "geojson", data: BASE + "detail/" + name + ".geojson",
                         attribution: "Natural Earth, place names GeoNames"});  // GeoNames' CC BY 4.0 asks for its credit
      // Fills under every cell's lines (a neighbour's fill would hide a line on the edge).
      var firstLine = kept.length ? DETAIL + kept[0] + "-admin1" : before;
      KINDS.forEach(function (k) {
        map.addLayer({id: id + "-" + k, type: look[k].type, source: id, minzoom: zoom, filter: ["==", ["get", "k"], k],
                      paint: look[k].paint}, k === "land" ? firstLine : before);
      });
      kept.push(name);
      stats.detail += 1;
    });
    return true;
  }

  // -- names of places -------------------------------------------------------------------

  // A layer of page elements over the map (kept on the map object under `key`).
  function overlay(map, key, className) {
    var box = map[key];
    if (!box) {
      box = document.createElement("div");
      box.className = className;
      box.setAttribute("aria-hidden", "true");
      map.getContainer().appendChild(box);
      map[key] = box;
    }
    return box;
  }

  function labelBox(map) { return overlay(map, "__crisisLabels", "crisis-place-labels"); }

  function place(map, label) {
    var p = map.project(label.lngLat);
    label.el.style.transform = "translate(" + Math.round(p.x) + "px," + Math.round(p.y) + "px)";
  }

  // The largest places in view whose names do not overlap, at most MAX_LABELS.
  function layoutLabels(map) {
    var box = labelBox(map), shown = [];
    stats.layouts += 1;
    if (map.getZoom() >= LABEL_ZOOM && places) {
      var bounds = map.getBounds(), canvas = map.getCanvas();
      var width = canvas.clientWidth, height = canvas.clientHeight, taken = traceLabelBoxes(map);
      var west = bounds.getWest(), east = bounds.getEast(), south = bounds.getSouth(), north = bounds.getNorth();
      for (var i = 0; i < places.length && shown.length < MAX_LABELS; i++) {
        var pl = places[i];
        if (pl[1] < south || pl[1] > north || pl[0] < west || pl[0] > east) { continue; }
        var p = map.project([pl[0], pl[1]]);
        var w = pl[3].length * 7 + 10;
        var r = [p.x - 4, p.y - 9, p.x + w, p.y + 9];
        if (r[0] < 0 || r[1] < 0 || r[2] > width || r[3] > height) { continue; }
        var clash = false;
        for (var k = 0; k < taken.length && !clash; k++) {
          var t = taken[k];
          clash = r[0] < t[2] && r[2] > t[0] && r[1] < t[3] && r[3] > t[1];
        }
        if (clash) { continue; }
        taken.push(r);
        shown.push(pl);
      }
    }
    var labels = [], reuse = box.children;
    shown.forEach(function (pl, n) {
      var el = reuse[n];
      if (!el) {
        el = document.createElement("span");
        el.className = "crisis-place-label";
        box.appendChild(el);
      }
      if (el.textContent !== pl[3]) { el.textContent = pl[3]; }
      el.dataset.population = String(pl[2]);
      var label = {el: el, lngLat: [pl[0], pl[1]]};
      place(map, label);
      labels.push(label);
    });
    while (box.children.length > shown.length) { box.removeChild(box.lastChild); }
    map.__crisisLabelList = labels;
    stats.labels = labels.length;
  }

  function moveLabels(map) {
    var labels = map.__crisisLabelList;
    if (!labels || !labels.length) { return; }
    for (var i = 0; i < labels.length; i++) { place(map, labels[i]); }
  }

  // -- labels of a figure's points ---------------------------------------------------------
  // A trace with meta "html-labels" (crisis/layers/areas.py: a safe haven's "arrived 53 /
  // moving 1 ...") has its `text` drawn here, beside each point, as page elements: drawn by
  // MapLibre they would need glyphs from a server the page may not reach.

  // Whether the labels changed (the names of places then make room for them again): called
  // after every draw of the figure, which on the live map is every patch.
  function traceLabels(map, gd) {
    var wanted = [];
    (gd.data || []).forEach(function (trace) {
      if (trace.meta !== "html-labels" || !trace.text) { return; }
      (trace.lat || []).forEach(function (lat, i) {
        if (lat == null || trace.lon[i] == null || !trace.text[i]) { return; }
        wanted.push({lngLat: [Number(trace.lon[i]), Number(lat)], text: String(trace.text[i])});
      });
    });
    var key = JSON.stringify(wanted);
    if (key === map.__crisisTraceKey) { return false; }
    map.__crisisTraceKey = key;
    var box = overlay(map, "__crisisTraceLabels", "crisis-place-labels crisis-trace-labels");
    var labels = [];
    wanted.forEach(function (w, n) {
      var el = box.children[n];
      if (!el) {
        el = document.createElement("span");
        el.className = "crisis-trace-label";
        box.appendChild(el);
      }
      if (el.textContent !== w.text) { el.textContent = w.text; }
      var label = {el: el, lngLat: w.lngLat};
      place(map, label);
      labels.push(label);
    });
    while (box.children.length > wanted.length) { box.removeChild(box.lastChild); }
    map.__crisisTraceLabelList = labels;
    return true;
  }

  // Where the figure's labels are on the screen: the names of places keep clear of them.
  function traceLabelBoxes(map) {
    var box = map.__crisisTraceLabels;
    if (!box || !box.children.length) { return []; }
    var origin = map.getContainer().getBoundingClientRect();
    return Array.prototype.map.call(box.children, function (el) {
      var r = el.getBoundingClientRect();
      return [r.left - origin.left, r.top - origin.top, r.right - origin.left, r.bottom - origin.top];
    });
  }

  // -- each map ----------------------------------------------------------------------------

  function setUp(map, gd) {
    if (!map || map.__crisisBasemap) { return; }
    map.__crisisBasemap = true;
    stats.maps += 1;
    map.setRenderWorldCopies(false);
    var redrawLabels = function () {
      if (traceLabels(map, gd) && map.__crisisLabelList && map.__crisisLabelList.length) { layoutLabels(map); }
    };
    redrawLabels();
    if (gd.on) { gd.on("plotly_afterplot", redrawLabels); }  // the figure's data changed
    map.on("move", function () {
      var labels = map.__crisisTraceLabelList || [];
      for (var i = 0; i < labels.length; i++) { place(map, labels[i]); }
    });
    var zoom = detailZoom(gd);
    if (zoom === null) { return; }  // an online style: its own detail
    var waiting = false;
    var settle = function () {
      if (map.getZoom() >= zoom - PREFETCH && !waiting) {
        // After what the map is loading now (the travellers' and incidents' tiles of this
        // view share MapLibre's workers with the detail's files): the centre's data first.
        waiting = true;
        var go = function () {
          if (!waiting) { return; }
          waiting = false;
          map.off("idle", go);
          if (map.getZoom() >= zoom - PREFETCH) { loadIndex(function () { addDetail(map, gd, zoom); }); }
        };
        map.once("idle", go);
        setTimeout(go, 3000);
      }
      if (map.getZoom() >= LABEL_ZOOM) {
        loadPlaces(function () { layoutLabels(map); });
      } else if (map.__crisisLabelList && map.__crisisLabelList.length) {
        layoutLabels(map);
      }
    };
    map.on("moveend", settle);
    map.on("move", function () { moveLabels(map); });
    map.on("resize", function () { if (places) { layoutLabels(map); } });
    if (map.isStyleLoaded()) { settle(); } else { map.once("idle", settle); }
  }

  // Every map on the page: the live map through crisisLive.onMap, and any other (areas,
  // wall, a map drawn later) found by a look at the page's Plotly graphs once a second.
  var hooked = false;
  function scan() {
    if (!hooked && window.crisisLive && window.crisisLive.onMap) { hooked = true; window.crisisLive.onMap(setUp); }
    var graphs = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < graphs.length; i++) {
      var gd = graphs[i], sub = gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
      if (sub && sub.map && !sub.map.__crisisBasemap) { setUp(sub.map, gd); }
    }
  }

  // (This file loads before crisis_live.js: the page's scripts have all run by DOMContentLoaded.)
  function start() {
    scan();
    setInterval(scan, 1000);
  }

  window.crisisBasemap = {stats: stats, kinds: KINDS, prefix: DETAIL, labelZoom: LABEL_ZOOM, traceLabelBoxes: traceLabelBoxes};
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
