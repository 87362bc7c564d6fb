/* The map's picture (crisis/ui/map_preview.py, docs/adr/009-page-load.md).
 *
 * The page's first HTML holds a picture of the map drawn by the server (#map-preview), in
 * the place the map will take, so the data shows in a few hundred ms instead of after Dash's
 * boot and the WebGL map's first frames. This script:
 * - keeps the picture on the map's box once Dash has drawn the page (before that, CSS puts
 *   it where the box will be: assets/crisis_preview.css);
 * - removes it once the interactive map has drawn its data (MapLibre loaded and drawn with
 *   Plotly's layers; on the wall, its markers drawn from the socket's picture, view fitted);
 * - if that has not happened FAIL_MS after the page opened, removes the picture and says the
 *   live map did not load: a picture must never pass for the live map. (Should the map come
 *   later after all, the note goes with it.)
 * - removes it when the page shown is not a map page (another page opened first) or the
 *   picture itself failed to load.
 * window.crisisPreview says when (performance.now() times), for tests and the benchmark.
 */
(function () {
  "use strict";

  var FAIL_MS = 15000;
  var CHECK_MS = 100;
  var INCIDENT_LAYER = "plotly-trace-layer-incidents-circle";  // crisis/layers/map_figure.py INCIDENT_UID

  var box = document.getElementById("map-preview");
  var state = window.crisisPreview = {
    page: box ? box.dataset.page : null,
    paintedAt: null,   // the picture painted (Element Timing's renderTime)
    decodedAt: null,   // the picture decoded, then a frame (where Element Timing is missing)
    replacedAt: null,  // the interactive map had drawn its data: the picture removed
    failedAt: null,    // FAIL_MS passed without the interactive map: the picture removed, a note shown
    removed: null      // why the box went: "replaced", "not a map page", "picture not loaded"
  };
  if (!box) { return; }
  var img = document.getElementById("map-preview-picture");
  var timer = null;
  var pending = false;  // a removal waits for the next frame

  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) {
        if (e.identifier === "map-preview" && state.paintedAt === null) { state.paintedAt = e.renderTime || e.loadTime; }
      });
    }).observe({type: "element", buffered: true});
  } catch (err) { /* no Element Timing: decodedAt only */ }

  function decoded() {
    if (state.decodedAt !== null) { return; }
    requestAnimationFrame(function () { if (state.decodedAt === null) { state.decodedAt = performance.now(); } });
  }
  if (img) {
    if (img.complete && img.naturalWidth) { decoded(); } else { img.addEventListener("load", decoded); }
    img.addEventListener("error", function () { remove("picture not loaded"); });
  }

  function remove(why) {
    if (state.removed) { return; }
    state.removed = why;
    if (why === "replaced") { state.replacedAt = performance.now(); }
    if (timer !== null) { clearInterval(timer); }
    window.removeEventListener("resize", check);
    if (renderHook) { renderHook.map.off("render", renderHook.fn); }
    if (box.parentNode) { box.parentNode.removeChild(box); }
  }

  function fail() {
    state.failedAt = performance.now();
    box.classList.add("failed");
    if (img && img.parentNode) { img.parentNode.removeChild(img); }
    var tag = box.querySelector(".map-preview-tag");
    if (tag) {
      tag.setAttribute("role", "alert");
      tag.textContent = "Live map not loaded. Reload the page; if it stays like this, tell the duty officer.";
    }
  }

  function subplotMap() {
    var gd = document.querySelector("#live-map .js-plotly-plot");
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    return sub && sub.map;
  }

  // Whether every source of Plotly's layers (basemap, incident areas, incidents) is loaded.
  // Not map.loaded(): the travellers' source, updated as positions stream in, keeps that
  // false much of the time on a live map.
  function plotlySourcesLoaded(map) {
    var ids = map.getLayersOrder ? map.getLayersOrder() : [];
    var any = false;
    for (var i = 0; i < ids.length; i++) {
      if (ids[i].indexOf("plotly-") !== 0) { continue; }
      var layer = map.getLayer(ids[i]);
      if (!layer || !layer.source) { continue; }
      try { if (!map.isSourceLoaded(layer.source)) { return false; } } catch (err) { return false; }
      any = true;
    }
    return any;
  }

  var rendered = false;  // a frame drawn since Plotly's sources were all loaded
  var renderHook = null;
  function mapDrawn() {
    var map = subplotMap();
    if (!map || !map.getLayer(INCIDENT_LAYER)) { return false; }
    if (!map.loaded()) {
      if (!plotlySourcesLoaded(map)) { rendered = false; return false; }
      if (!rendered) {
        if (!renderHook) {
          renderHook = {map: map, fn: function () { if (plotlySourcesLoaded(map)) { rendered = true; } }};
          map.on("render", renderHook.fn);
        }
        return false;
      }
    }
    if (state.page !== "wall") { return true; }
    var wall = window.crisisWall && window.crisisWall.state;
    var live = window.crisisLive && window.crisisLive.state;
    if (!wall || wall.map !== map || !wall.drawnAt || !live || !live.synced || live.dirty.incidents) { return false; }
    // Its markers hold every open incident of the socket's picture.
    var open = 0, shown = 0;
    live.incidents.forEach(function (m) { if (m.incident.status !== "closed") { open += 1; } });
    (wall.markers || []).forEach(function (ids) { shown += ids.length; });
    if (shown !== open) { return false; }
    var width = map.getContainer().getBoundingClientRect().width;
    return width > 0 && Math.abs(map.getZoom() - Math.log2(width / 512)) < 0.01;  // fitted (crisis_wall.js fitWorld)
  }

  function place() {
    var graph = document.getElementById("live-map");
    if (!graph) {
      var content = document.getElementById("_pages_content");
      if (content && content.children.length) { remove("not a map page"); }
      return;
    }
    var rect = graph.parentElement.getBoundingClientRect();
    box.style.display = rect.width && rect.height ? "" : "none";
    box.style.left = rect.left + "px";
    box.style.top = rect.top + "px";
    box.style.width = rect.width + "px";
    box.style.height = rect.height + "px";
    box.style.right = "auto";
    box.style.bottom = "auto";
  }

  function check() {
    if (state.removed) { return; }
    place();
    if (state.removed) { return; }
    if (!pending && mapDrawn()) {
      // The map's frame with the data is drawn: gone on the next one, if the map still holds it
      // (a patch may have sent a source new data meanwhile).
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        if (mapDrawn()) { remove("replaced"); }
      });
      return;
    }
    if (state.failedAt === null && performance.now() > FAIL_MS) { fail(); }
  }

  timer = setInterval(check, CHECK_MS);
  window.addEventListener("resize", check);
  check();
})();
