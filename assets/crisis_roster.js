/* The standby roster in the browser: the header's coverage badge on every page, and the
 * roster page kept current without reload.
 *
 * crisis_live.js re-announces the socket's "roster" message ({event, stream_id, at,
 * warnings, standby_now: {total, by_region, readiness_24h}}) as the DOM event
 * crisis:roster. Here it:
 *   - sets the header badge (roster-badge): how many coverage warnings in the next 30
 *     days, loud when one is in force now (a wall shows it too: warnings name no one);
 *   - on the roster page, sets the standby figures at once and asks the server callback
 *     to re-read the page's tables and timeline (roster-live store, set_props, at most
 *     once a second).
 * No inline script (the Content-Security-Policy forbids it): this is a static asset.
 */
(function () {
  "use strict";

  var REFRESH_MS = 1000;
  var roster = {last: null, rev: 0, timer: null, lastRefresh: 0, seeded: false};

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) { window.dash_clientside.set_props(id, props); }
  }

  function badge(figures) {
    if (!figures) { return ["", "roster-badge none"]; }
    var warnings = figures.warnings || [];
    var nowMs = figures.at ? Date.parse(figures.at) : Date.now();
    var now = 0;
    warnings.forEach(function (w) {
      if (Date.parse(w.from) <= nowMs && nowMs < Date.parse(w.to)) { now += 1; }
    });
    if (!warnings.length) { return ["cover ok", "roster-badge ok"]; }
    var text = "COVER: " + warnings.length + (warnings.length === 1 ? " warning" : " warnings") + (now ? " (" + now + " now)" : "");
    return [text, "roster-badge " + (now ? "loud" : "warn")];
  }

  function showBadge() {
    if (!document.getElementById("roster-badge")) { return; }
    var b = badge(roster.last);
    setProps("roster-badge", {children: b[0], className: b[1]});
  }

  function refreshPage(msg) {
    if (!document.getElementById("roster-page")) { return; }
    if (roster.timer) { return; }
    var wait = Math.max(0, roster.lastRefresh + REFRESH_MS - Date.now());
    roster.timer = setTimeout(function () {
      roster.timer = null;
      roster.lastRefresh = Date.now();
      roster.rev += 1;
      if (document.getElementById("roster-page")) {
        setProps("roster-live", {data: {rev: roster.rev, event: msg.event || null, stream_id: msg.stream_id || null}});
      }
    }, wait);
  }

  function showStandby(msg) {
    var s = msg.standby_now;
    if (!s || !document.getElementById("roster-standby-total")) { return; }
    setProps("roster-standby-total", {children: String(s.total)});
    setProps("roster-standby-24h", {children: String(s.readiness_24h)});
    setProps("roster-warning-count", {children: String((msg.warnings || []).length)});
  }

  document.addEventListener("crisis:roster", function (e) {
    var msg = e.detail;
    if (!msg) { return; }
    roster.last = msg;
    roster.seeded = true;
    showBadge();
    showStandby(msg);
    refreshPage(msg);
  });

  // A failover (crisis:reread, crisis_live.js; also after a reconnection): the roster page re-reads (the figures follow in a "roster" push).
  document.addEventListener("crisis:reread", function () { refreshPage({event: "reset", stream_id: null}); });

  window.crisisRoster = {state: roster, badge: badge};

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    // The server's first figures (the same as a "roster" message), unless one was heard live.
    rosterSeed: function (seed) {
      if (seed && !roster.seeded) { roster.last = seed; }
      return badge(roster.last);
    }
  });
})();
