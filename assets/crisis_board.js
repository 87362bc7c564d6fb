/* The incident board's clientside logic: rows from the live state, filters, fly-to. */
(function () {
  "use strict";

  var WINDOW_MS = {"1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3};
  var REGION_LABELS = {
    africa: "Africa", americas: "Americas", asia_pacific: "Asia and the Pacific",
    europe_central_asia: "Europe and Central Asia", middle_east_north_africa: "Middle East and North Africa"
  };

  function fmtAge(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; }
    if (s < 86400 * 365) { return Math.floor(s / 86400) + " d"; }
    return (s / (86400 * 365.25)).toFixed(1) + " y";
  }

  // Used by the grid's valueFormatter (dash-ag-grid looks functions up here).
  var fns = window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  fns.crisisAge = function (iso) { return iso ? fmtAge(iso) : ""; };

  // The Incident cell: the title, and under it our people there (counts, crisis_people.js).
  var comps = window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  comps.CrisisIncidentTitle = function (props) {
    var d = props.data || {}, h = window.React.createElement;
    return h("span", {className: "board-title"}, d.title,
      d.ours ? h("span", {className: "board-ours" + (d.ours_help ? " need-help" : "")}, d.ours) : null);
  };

  // Our people in an incident changed: the rows are made again (the grid updates only those changed).
  var oursRev = 0;
  document.addEventListener("crisis:ours", function () {
    if (document.getElementById("board-ours")) { window.dash_clientside.set_props("board-ours", {data: ++oursRev}); }
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    // Rows from the live state. A closed incident stays, greyed, for closed_visible_minutes
    // after closing even when "closed" is not ticked (ticked: every closed one).
    boardRows: function (signal, region, types, severities, statuses, windowKey, _ours, config, board) {
      var live = window.crisisLive && window.crisisLive.state;
      if (!live || !live.ready) { return window.dash_clientside.no_update; }
      var now = Date.now();
      var since = WINDOW_MS[windowKey] ? now - WINDOW_MS[windowKey] : null;
      var staleMs = (config && config.stale_minutes ? config.stale_minutes : 60) * 60e3;
      var keepClosedMs = (board && board.closed_visible_minutes ? board.closed_visible_minutes : 60) * 60e3;
      var labels = (board && board.type_labels) || {};
      // a desk granted several regions has a scope of several codes ("africa,middle_east_north_africa")
      var scope = region ? String(region).split(",") : null;
      var rows = [], people = window.crisisPeople;
      live.incidents.forEach(function (m) {
        var i = m.incident;
        var updated = Date.parse(i.updated_at);
        if (scope && !scope.some(function (r) { return i.region === r || (i.regions || []).indexOf(r) >= 0; })) { return; }
        if (types && types.length && types.indexOf(i.type) < 0) { return; }
        if (severities && severities.indexOf(i.severity) < 0) { return; }
        var recentlyClosed = i.status === "closed" && now - updated < keepClosedMs;
        if (statuses && statuses.indexOf(i.status) < 0 && !recentlyClosed) { return; }
        if (since !== null && updated < since) { return; }
        rows.push({
          id: i.id, severity: i.severity, title: i.title, type: labels[i.type] || i.type.replace(/_/g, " "),
          ours: people ? people.oursText(i.id) : "", ours_help: people ? people.ours(i.id).needs_help : 0,
          // every country and region an incident over several countries spans, not only the first:
          // the countries in a line as the list says them (three, then "+N"), all of them in its tooltip
          country: window.crisisLive.countriesText(i) || "-",
          countries: window.crisisLive.countriesOf(i).join(", "),
          region_label: (i.regions && i.regions.length ? i.regions : [i.region]).map(function (r) { return REGION_LABELS[r]; })
            .filter(Boolean).join(", ") || "-",
          status: i.status,
          reported_at: i.reported_at, updated_at: i.updated_at, owner: i.owner || "",
          stale: i.status !== "closed" && now - updated > staleMs ? "STALE" : ""
        });
      });
      return rows;
    },
    flyTo: function (cell) {
      var live = window.crisisLive && window.crisisLive.state;
      if (!cell || !cell.rowId || !live) { return window.dash_clientside.no_update; }
      var m = live.incidents.get(String(cell.rowId));
      if (!m) { return window.dash_clientside.no_update; }
      var patch = new window.dash_clientside.Patch();
      patch.assign(["layout", "map", "center"], {lat: m.incident.lat, lon: m.incident.lon});
      patch.assign(["layout", "map", "zoom"], m.incident.radius_km && m.incident.radius_km > 100 ? 4 : 7);
      // A new uirevision lets the flight override the user's current view once.
      patch.assign(["layout", "uirevision"], "fly-" + cell.rowId + "-" + Date.now());
      return patch.build();
    }
  });
})();
