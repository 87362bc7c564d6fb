/* People in the browser: accountability counts, the "needs help" header badge, and
 * keeping the people pages current without reload.
 *
 * crisis_live.js re-dispatches the socket's "affected", "people", "accountability", "areas" and "movement"
 * messages as DOM events (crisis:<name>, detail = the message) on document. Here:
 *   - the header badge says how many people need help, each person once (by their worst
 *     status over the open incidents and movements this viewer sees): the sum of the
 *     per-region figures of the roll-call (crisis.views.accountability_summary), the
 *     figure /people gives. A person inside two overlapping incidents counts once, not
 *     twice: the per-incident counts are never added up. The page gets that figure with its
 *     first figures (the needs-help seed, computed with the page) and each "accountability"
 *     message replaces it; after a failover it is read again (GET /api/v1/accountability);
 *   - an "affected" message ({incident, counts, accounted_pct}) updates, at once, the
 *     counts of that incident's page if it is open; for the badge its needs-help count is
 *     only a floor (at least that many need help) until the next roll-call;
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
    needsHelp: {},     // incident id -> number needing help (a floor for the badge, never added up)
    ours: {},          // incident id -> {total, needs_help}: our people it affects (the workspace's list)
    seen: {},          // incident ids heard live (a later seed does not overwrite them)
    total: null,       // people needing help, each once (the roll-call's regions); null: not known yet
    totalAt: 0,        // when the total was last set from a roll-call (a later one wins over an older read)
    asked: 0,          // the roll-call reads asked (the newest answer is the one kept)
    rev: 0,
    timers: {},        // store id -> pending refresh timer
    lastRefresh: {}    // store id -> when it was last asked
  };

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) { window.dash_clientside.set_props(id, props); }
  }

  // Each person once: the roll-call's figure, never less than any one incident's own count
  // (heard since: a floor), and until the roll-call is known only that floor.
  function badge() {
    var total = people.total || 0;
    Object.keys(people.needsHelp).forEach(function (k) { total = Math.max(total, people.needsHelp[k] || 0); });
    var text = total ? total + (total === 1 ? " PERSON NEEDS HELP" : " PEOPLE NEED HELP") : "";
    return [text, "needs-help-badge " + (total ? "loud" : "none")];
  }

  function showBadge() {
    if (!document.getElementById("needs-help-badge")) { return; }
    var b = badge();
    setProps("needs-help-badge", {children: b[0], className: b[1]});
  }

  // Our people an incident affects, as the incident lists show them (crisis_workspace.js,
  // crisis_wall.js): each change is told as one "crisis:ours" event on document.
  function oursOf(counts) {
    return {total: (counts && counts.total) || 0, needs_help: (counts && counts.needs_help) || 0};
  }

  function same(a, b) { return !!a && !!b && a.total === b.total && a.needs_help === b.needs_help; }

  function tellOurs() { document.dispatchEvent(new CustomEvent("crisis:ours")); }

  // Whether it changed (the caller tells, once for all it set).
  function setOurs(id, counts) {
    var now = oursOf(counts);
    if (same(people.ours[id], now)) { return false; }
    people.ours[id] = now;
    return true;
  }

  // The whole picture (a roll-call): an incident it no longer lists affects nobody of ours.
  function takeOurs(ours) {
    var changed = Object.keys(people.ours).some(function (id) { return !ours[id]; }) ||
                  Object.keys(ours).some(function (id) { return !same(people.ours[id], ours[id]); });
    people.ours = ours;
    if (changed) { tellOurs(); }
  }

  function ours(id) { return people.ours[id] || {total: 0, needs_help: 0}; }

  // "47 of ours, 2 need help" (counts, never names: walls show it too); "" when nobody of ours.
  function oursText(id) {
    var o = ours(id);
    if (!o.total) { return ""; }
    return o.total + " of ours" + (o.needs_help ? ", " + o.needs_help + (o.needs_help === 1 ? " needs" : " need") + " help" : "");
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
    // A desk told of affected people in other regions: nobody *in its regions* (affected_people.py)
    var elsewhere = !!panel.querySelector(".count-elsewhere");
    setProps("people-pct-label", {children: !nobody ? "% accounted for" :
      (elsewhere ? "Nobody in your regions is affected" : "Nobody of ours is affected")});
    return true;
  }

  function onAffected(event) {
    var msg = event.detail;
    if (!msg || !msg.incident) { return; }
    people.affected[msg.incident] = msg;
    people.seen[msg.incident] = true;
    people.needsHelp[msg.incident] = (msg.counts && msg.counts.needs_help) || 0;
    if (setOurs(msg.incident, msg.counts)) { tellOurs(); }
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
  // The roll-call (an "accountability" message, or GET /api/v1/accountability): each person
  // once per region, by their worst status; the incidents it lists are the open ones (a closed
  // incident drops out of it).
  function takeSummary(summary) {
    if (!summary || !summary.incidents || !summary.regions) { return false; }
    var fresh = {}, ours = {};
    summary.incidents.forEach(function (row) {
      fresh[row.incident] = (row.counts && row.counts.needs_help) || 0;
      ours[row.incident] = oursOf(row.counts);
      people.seen[row.incident] = true;
    });
    people.needsHelp = fresh;
    takeOurs(ours);
    people.total = summary.regions.reduce(function (n, row) { return n + ((row.counts && row.counts.needs_help) || 0); }, 0);
    people.totalAt = Date.now();
    showBadge();
    return true;
  }

  function onAccountability(event) {
    takeSummary(event.detail);
    onPeople();
  }

  // Read the roll-call after a failover: the badge's figure before the next push.
  function readSummary() {
    var asked = ++people.asked, since = people.totalAt;
    fetch("/api/v1/accountability", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (summary) {
        // a push that came meanwhile is as new: it stays
        if (asked === people.asked && people.totalAt === since) { takeSummary(summary); }
      })
      .catch(function () { /* the next "accountability" push sets it */ });
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
  // A failover (crisis:reread, crisis_live.js; also after a reconnection): what the pages show may hold what the new server never had: re-read.
  document.addEventListener("crisis:reread", function () {
    if (document.getElementById("needs-help-badge")) { readSummary(); }
    var panel = document.getElementById("people-panel");
    if (panel) { refresh("people-live", "people-panel", {incident: panel.getAttribute("data-incident-id"), at: null}); }
    onArea({detail: null});
  });

  window.crisisPeople = {state: people, badge: badge, ours: ours, oursText: oursText};

  var fns = window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  fns.crisisStatusLabel = function (status) { return LABELS[status] || status || ""; };
  // A code in words: "national_staff" -> "National staff", "duty_station" -> "Duty station".
  fns.crisisWords = function (code) {
    if (code === null || code === undefined || code === "") { return ""; }
    var words = String(code).replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  };

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    // The server's first word (people_commands.needs_help_seed): who needs help, each once
    // (unless a roll-call was heard live since), and per incident (merged under what was
    // heard live: a floor for the badge).
    needsHelpSeed: function (seed) {
      if (seed) {
        if (seed.total != null && !people.totalAt) { people.total = seed.total; }
        var perIncident = seed.incidents || {}, affected = seed.people || {};
        Object.keys(perIncident).forEach(function (id) {
          if (!people.seen[id]) { people.needsHelp[id] = perIncident[id]; }
        });
        var changed = Object.keys(affected).filter(function (id) {
          return !people.seen[id] && setOurs(id, {total: affected[id], needs_help: perIncident[id] || 0});
        });
        if (changed.length) { tellOurs(); }
      }
      return badge();
    }
  });
})();
