/* People in the browser: accountability counts, the "needs help" header badge, and
 * keeping the people pages current without reload.
 *
 * crisis_live.js re-dispatches the socket's "affected", "people", "accountability", "areas" and "movement"
 * messages as DOM events (crisis:<name>, detail = the message) on document. Here:
 *   - an "affected" message ({incident, counts, accounted_pct}) updates, at once, the
 *     counts of that incident's page if it is open, and the header badge (the number
 *     of people needing help across the incidents this viewer sees);
 *   - an "accountability" message (the whole roll-call as this viewer may see it)
 *     replaces the badge's figures;
 *   - any of them asks the open page's server callback to re-read its table (at most
 *     once a second), by setting the page's live store (people-live, roll-live,
 *     areas-live) with set_props.
 * No inline script (the Content-Security-Policy forbids it): this is a static asset.
 */
(function () {
  "use strict";

  var REFRESH_MS = 1000;
  var STATUSES = ["needs_help", "unreachable", "unsure", "no_response", "safe"];
  var LABELS = {needs_help: "NEEDS HELP", unreachable: "unreachable", unsure: "unsure",
                no_response: "no response", safe: "safe"};

  var people = {
    affected: {},      // incident id -> newest "affected" message
    needsHelp: {},     // incident id -> number needing help
    seen: {},          // incident ids heard live (a later seed does not overwrite them)
    rev: 0,
    timers: {},        // store id -> pending refresh timer
    lastRefresh: {}    // store id -> when it was last asked
  };

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) { window.dash_clientside.set_props(id, props); }
  }

  function badge() {
    var total = 0;
    Object.keys(people.needsHelp).forEach(function (k) { total += people.needsHelp[k] || 0; });
    var text = total ? total + (total === 1 ? " PERSON NEEDS HELP" : " PEOPLE NEED HELP") : "";
    return [text, "needs-help-badge " + (total ? "loud" : "none")];
  }

  function showBadge() {
    if (!document.getElementById("needs-help-badge")) { return; }
    var b = badge();
    setProps("needs-help-badge", {children: b[0], className: b[1]});
  }

  // Ask the page's server callback to re-read, at most once a second (the last ask always lands).
  function refresh(storeId, marker, data) {
    if (!document.getElementById(marker)) { return; }
    if (people.timers[storeId]) { people.timers[storeId].data = data; return; }
    var wait = Math.max(0, (people.lastRefresh[storeId] || 0) + REFRESH_MS - Date.now());
    var pending = {data: data};
    pending.timer = setTimeout(function () {
      delete people.timers[storeId];
      people.lastRefresh[storeId] = Date.now();
      people.rev += 1;
      if (document.getElementById(marker)) { setProps(storeId, {data: Object.assign({rev: people.rev}, pending.data)}); }
    }, wait);
    people.timers[storeId] = pending;
  }

  function showCounts(msg) {
    var panel = document.getElementById("people-panel");
    if (!panel || panel.getAttribute("data-incident-id") !== msg.incident) { return false; }
    var counts = msg.counts || {};
    setProps("people-count-total", {children: String(counts.total || 0)});
    STATUSES.forEach(function (s) {
      var n = counts[s] || 0;
      setProps("people-count-" + s, {children: String(n)});
      setProps("people-count-" + s + "-box", {className: "count count-" + s + (s === "needs_help" && n ? " loud" : "")});
    });
    var nobody = !counts.total;  // not "0.0 %" (nor 100 %) of nobody: crisis.ui.components.affected_people
    setProps("people-pct", {children: nobody ? "" : Number(msg.accounted_pct || 0).toFixed(1)});
    setProps("people-pct-label", {children: nobody ? "Nobody of ours is affected" : "% accounted for"});
    return true;
  }

  function onAffected(event) {
    var msg = event.detail;
    if (!msg || !msg.incident) { return; }
    people.affected[msg.incident] = msg;
    people.seen[msg.incident] = true;
    people.needsHelp[msg.incident] = (msg.counts && msg.counts.needs_help) || 0;
    showBadge();
    if (showCounts(msg)) { refresh("people-live", "people-panel", {incident: msg.incident, at: msg.at || null}); }
    refresh("roll-live", "roll-page", {incident: msg.incident});
  }

  // A status changed somewhere (an incident's or a movement's roll-call).
  function onPeople() {
    refresh("roll-live", "roll-page", {});
    refresh("areas-live", "areas-page", {});
  }

  // The whole roll-call as this viewer may see it: the open incidents it lists are the
  // badge's whole truth (a closed incident drops out of it).
  function onAccountability(event) {
    var summary = event.detail;
    if (summary && summary.incidents) {
      var fresh = {};
      summary.incidents.forEach(function (row) {
        fresh[row.incident] = (row.counts && row.counts.needs_help) || 0;
        people.seen[row.incident] = true;
      });
      people.needsHelp = fresh;
      showBadge();
    }
    onPeople();
  }

  function onArea(event) {
    var area = event.detail && event.detail.area;
    refresh("areas-live", "areas-page", {area: area ? area.id : null});
    refresh("roll-live", "roll-page", {area: area ? area.id : null});
  }

  document.addEventListener("crisis:affected", onAffected);
  document.addEventListener("crisis:people", onPeople);
  document.addEventListener("crisis:accountability", onAccountability);
  document.addEventListener("crisis:areas", onArea);
  document.addEventListener("crisis:movement", onArea);
  // A failover (crisis:reset, crisis_live.js): what the pages show may hold what the new server never had: re-read.
  document.addEventListener("crisis:reset", function () {
    var panel = document.getElementById("people-panel");
    if (panel) { refresh("people-live", "people-panel", {incident: panel.getAttribute("data-incident-id"), at: null}); }
    onArea({detail: null});
  });

  window.crisisPeople = {state: people, badge: badge};

  var fns = window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  fns.crisisStatusLabel = function (status) { return LABELS[status] || status || ""; };

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    // The server's first word on who needs help (incident id -> number), merged under what was heard live.
    needsHelpSeed: function (seed) {
      if (seed) {
        Object.keys(seed).forEach(function (id) {
          if (!people.seen[id]) { people.needsHelp[id] = seed[id]; }
        });
      }
      return badge();
    }
  });
})();
