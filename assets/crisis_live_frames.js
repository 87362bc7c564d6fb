/* Map frames: one frame per data update, not two (docs/adr/004-travellers-layer.md).
 *
 * With the WebGL canvas drawn in software (a machine without a GPU, headless Chromium with
 * --disable-gpu) every frame MapLibre renders is read back on the page's main thread at the
 * next commit, which waits until the whole frame is drawn (BENCHMARKS.md section 8): the
 * busy share is about frames per second times that wait. A GeoJSON `setData` (the
 * travellers' layer, Plotly's incident trace, an incident area) made MapLibre render twice:
 * once when the worker has the data (its tiles only start reloading, so it draws the old
 * tiles again: the same pixels) and once when the new tiles are in. Here a repaint that
 * MapLibre asks for while tiles in view are being replaced, or while a GeoJSON source's new
 * data is still in the worker, is held until they are all in, and then made once: the frame
 * that would show the old tiles again is not drawn. A
 * map the user is moving is never held, and nothing is held longer than HOLD_MAX_MS (a tile
 * that never loads cannot stop the map). fadeDuration 0: symbol placement (labels) never
 * asks for the 300 ms of fade frames after a data change, and paint transitions are off (no
 * 300 ms of transition frames after a layer is added again or its paint changes).
 *
 * Switched off while window.CRISIS_FRAME_GATE === false (benchmarks/event_to_pixel.py
 * --alternate: the same page, server and load, with and without it, in turns).
 */
(function () {
  "use strict";

  // A safety net only: tiles come in within tens of ms on a quiet machine, seconds on a loaded
  // one; a release before they are in draws the old tiles again (the frame the gate saves).
  var HOLD_MAX_MS = 1000;
  var stats = {passed: 0, held: 0, released: 0, maps: 0};

  function gate(map) {
    if (map.__crisisFrameGate) { return; }
    map.__crisisFrameGate = true;
    stats.maps += 1;
    map._fadeDuration = 0;  // the option fadeDuration, read by MapLibre at every placement
    // No paint transitions (300 ms of frames after a layer's paint changes or a layer is added
    // again): a change is drawn in one frame.
    try {
      if (map.style && typeof map.style.setTransition === "function") { map.style.setTransition({duration: 0, delay: 0}); }
    } catch (err) { /* a style being replaced: MapLibre's default transitions */ }
    var repaint = map.triggerRepaint;
    var timer = null, deciding = false;
    function pass() {
      if (timer !== null) { clearTimeout(timer); timer = null; }
      stats.passed += 1;
      repaint.call(map);
    }
    function release() {
      timer = null;
      stats.released += 1;
      repaint.call(map);
    }
    // Whether a tile in view is being replaced (state "reloading": its old content still shown).
    // Tiles loading for the first time (a new zoom, a basemap loaded lazily) hold nothing: there
    // is no old content of theirs to draw again. The tile managers are MapLibre's own (not its
    // API; plotly.js pins the version): without them, any tile not loaded holds.
    function reloading() {
      var managers = map.style && (map.style.tileManagers || map.style.sourceCaches);
      if (!managers) { return !map.areTilesLoaded(); }
      for (var id in managers) {
        var m = managers[id];
        // A GeoJSON source whose new data is still in MapLibre's worker (setData sent, not back):
        // a frame now would draw its old tiles again (Plotly's redraw of the incident trace
        // changes the style in the same task, which asks for one at once: BENCHMARKS.md section 8).
        var source = typeof m.getSource === "function" ? m.getSource() : m._source;
        if (source && source.type === "geojson" && typeof source.loaded === "function" && !source.loaded()) { return true; }
        var tiles = m._inViewTiles && typeof m._inViewTiles.getAllTiles === "function" ? m._inViewTiles.getAllTiles() :
          m._tiles ? Object.keys(m._tiles).map(function (k) { return m._tiles[k]; }) : null;
        if (tiles === null) { return !map.areTilesLoaded(); }
        for (var i = 0; i < tiles.length; i++) { if (tiles[i].state === "reloading") { return true; } }
      }
      return false;
    }
    function ready() {
      try {
        return map.isMoving() || !reloading();
      } catch (err) {  // a map being removed: let MapLibre do what it does
        return true;
      }
    }
    // Decided once the task that asked is done: a GeoJSON source announces new data twice in one
    // task ("metadata", then "content", which starts its tiles reloading), and the first ask
    // would otherwise pass while the tiles still look loaded.
    function decide() {
      deciding = false;
      if (ready()) { pass(); return; }
      stats.held += 1;
      if (timer === null) { timer = setTimeout(release, HOLD_MAX_MS); }
    }
    map.triggerRepaint = function () {
      if (window.CRISIS_FRAME_GATE === false) { return repaint.apply(map, arguments); }  // comparison runs
      if (map.isMoving()) { pass(); return undefined; }
      if (!deciding) {
        deciding = true;
        Promise.resolve().then(decide);
      }
      return undefined;
    };
  }

  function install() {
    if (!window.crisisLive || typeof window.crisisLive.onMap !== "function") { return false; }
    window.crisisLive.frames = stats;
    window.crisisLive.onMap(function (map) { gate(map); });
    return true;
  }

  if (!install()) { document.addEventListener("DOMContentLoaded", install); }
})();
