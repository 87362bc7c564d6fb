/* The duty officer's workspace on the live map (/): the open-incident list, the incident
 * panel beside the map, and explicit reporting.
 *
 * - The list (#incident-list) is drawn here, in plain DOM, keyed by incident id: a pushed
 *   incident changes only its own item (text set only when it differs, an item moved only
 *   when its place changed), and positions streaming change nothing, so an item can be
 *   clicked and its text selected at any time. Closed incidents stay, greyed, for
 *   CRISIS_CLOSED_VISIBLE_MINUTES after closing, under a heading that says so.
 * - A list item or an incident marker (crisis_live.js pickIncident) opens #incident-panel
 *   and moves the map to it (showOnMap: its area fitted, else its point at zoom 5 or closer;
 *   not while the user drags the map):
 *   facts (event age, last update) live from window.crisisLive (onIncident), the lifecycle
 *   steps in workflow order (next step first; Close asks first), the affected people
 *   (needs help first, "% accounted for", live from "affected" messages), the movements
 *   under way around it (GET /api/v1/areas, live from "movement"/"areas" messages), and the
 *   best 5 surge candidates (GET /api/v1/incidents/{id}/candidates?limit=5): Send, then
 *   Confirm = POST /api/v1/dispatches. Three clicks from the page: open, Send, Confirm.
 * - Reporting: "Report an incident" (#report-start) arms the map; a click on it (or
 *   coordinates or a place typed in #report-place, resolved by the server's offline
 *   gazetteer) puts a pin there and opens the form (report-click store).
 * - Any button with data-confirm (the lifecycle's Close, here and on the board and the
 *   incident page) asks for confirmation before Dash or this script sees the click.
 * No inline script (the Content-Security-Policy forbids it): configuration comes from the
 * data-config attribute of #workspace-config.
 */
(function () {
  "use strict";

  var LIST_MAX = 40;
  var PEOPLE_SHOWN = 8;
  var REFETCH_MS = 3000;
  var PIN_SOURCE = "crisis-report-pin";
  var PIN_LAYERS = ["crisis-report-pin-halo", "crisis-report-pin-dot"];
  var STATUS_ORDER = ["needs_help", "unreachable", "unsure", "no_response", "safe"];
  var STATUS_WORDS = {needs_help: "need help", unreachable: "unreachable", unsure: "unsure", no_response: "no response",
                      safe: "safe"};
  var PROGRESS_WORDS = {arrived: "arrived", moving: "moving", to_move: "to move", stayed: "stayed"};
  var FOCUS_ZOOM = 5;        // an incident without an area: shown at least this close (never farther out)
  var FOCUS_MAX_ZOOM = 11;   // an area fitted: no closer than this (a small polygon)
  var FOCUS_PADDING = 0.25;  // of the map's smaller side, kept around a fitted area: the places around it stay in view
  var FOCUS_MS = 600;

  var W = {
    configEl: null, config: null,
    listEl: null, nodes: new Map(), listRev: -1, listAt: 0,
    picked: null, lifecycleFor: null,
    affected: null, affectedAt: 0, affectedTimer: null,
    areas: null, areasAt: 0, areasTimer: null,
    candidates: null, chosen: null,
    placing: false, pin: null, lastResult: ""
  };

  // -- small helpers -------------------------------------------------------------------------

  function liveState() { return window.crisisLive && window.crisisLive.state; }

  function config() {
    var el = document.getElementById("workspace-config");
    if (!el) { return null; }
    if (el !== W.configEl) {
      W.configEl = el;
      try { W.config = JSON.parse(el.getAttribute("data-config") || "{}"); } catch (err) { W.config = {}; }
    }
    return W.config;
  }

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { el.textContent = attrs[k]; } else if (k === "className") { el.className = attrs[k]; } else { el.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { el.appendChild(c); } });
    return el;
  }

  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }
  function setClass(el, cls) { if (el && el.className !== cls) { el.className = cls; } }

  function ago(iso, now) {
    var t = Date.parse(iso);
    if (isNaN(t)) { return "unknown"; }
    var s = Math.max(0, Math.round(((now || Date.now()) - t) / 1000));
    if (s < 60) { return "just now"; }
    if (s < 3600) { return Math.floor(s / 60) + " min ago"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago"; }
    if (s < 86400 * 365) { return Math.floor(s / 86400) + " d ago"; }
    return (s / (86400 * 365.25)).toFixed(1) + " years ago";
  }

  function utc(iso) { return iso ? String(iso).slice(0, 16).replace("T", " ") + " UTC" : "unknown"; }

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function api(method, url, body) {
    var headers = {Accept: "application/json"};
    if (method !== "GET") { headers["Content-Type"] = "application/json"; headers["X-CSRFToken"] = csrf(); }
    return fetch(url, {method: method, credentials: "same-origin", headers: headers,
                       body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
          return {ok: r.ok, status: r.status, body: data};
        });
      });
  }

  // An API refusal as words: its errors' messages, or its error, or the HTTP status.
  function refusal(answer) {
    var b = answer.body || {};
    if (Array.isArray(b.errors) && b.errors.length) {
      return b.errors.map(function (e) { return e.message || String(e); }).join(" ");
    }
    return b.message || b.error || ("the server said " + answer.status);
  }

  function typeLabel(i) {
    var c = config() || {};
    return (c.type_labels && c.type_labels[i.type]) || String(i.type || "").replace(/_/g, " ");
  }

  function incidentOf(id) {
    var live = liveState();
    var m = live && live.incidents.get(id);
    return m ? m.incident : null;
  }

  // -- the open-incident list ----------------------------------------------------------------

  function listed() {
    var live = liveState(), c = config() || {}, compareIds = window.crisisLive.compareIds;
    var keepMs = (c.closed_visible_minutes || 60) * 60e3, now = Date.now();
    var open = [], closed = [];
    live.incidents.forEach(function (m) {
      var i = m.incident;
      if (i.status !== "closed") { open.push(m); } else if (now - Date.parse(i.updated_at) < keepMs) { closed.push(m); }
    });
    // Those where our people need help first (the most needing it first), then those that
    // affect any of ours, then the rest; in each, the most severe first, then the latest change.
    var ours = {};
    open.forEach(function (m) { ours[m.incident.id] = oursOf(m.incident.id); });
    open.sort(function (a, b) {
      var x = ours[a.incident.id], y = ours[b.incident.id];
      return (y.needs_help - x.needs_help) || ((y.total > 0) - (x.total > 0)) ||
             (b.incident.severity - a.incident.severity) || compareIds(b.stream_id, a.stream_id);
    });
    closed.sort(function (a, b) { return compareIds(b.stream_id, a.stream_id); });
    return {open: open.slice(0, LIST_MAX), more: Math.max(0, open.length - LIST_MAX), closed: closed};
  }

  // Our people an incident affects (crisis_people.js: the roll-call and the "affected" pushes).
  function oursOf(id) {
    return window.crisisPeople ? window.crisisPeople.ours(id) : {total: 0, needs_help: 0};
  }

  function itemNode(id) {
    return h("li", {"data-incident-id": id, tabindex: "0", role: "button"}, [
      h("span", {className: "sev-badge"}), h("span", {className: "incident-title"}),
      // our people there (red when someone needs help), then where, status and ages (plain)
      h("span", {className: "incident-meta"}, [h("span", {className: "incident-ours"}), h("span", {className: "incident-where"})])
    ]);
  }

  // The incident's regions by name (every region an incident over several countries touches).
  function regionNames(i, c) {
    return (i.regions && i.regions.length ? i.regions : [i.region]).filter(Boolean)
      .map(function (r) { return (c && c.regions && c.regions[r]) || r; });
  }

  // Where an incident is, in a list line: its countries (crisisLive.countriesText: three, then
  // "+N"), else its regions by name (at sea or in a territory with no country code), never a bare "-".
  function placeText(i, c) {
    return window.crisisLive.countriesText(i) || regionNames(i, c).join(", ") || "no place";
  }

  function fillItem(li, i, now) {
    var closed = i.status === "closed";
    var o = closed ? {total: 0, needs_help: 0} : oursOf(i.id);
    setClass(li, "incident-item sev-" + i.severity + (closed ? " incident-closed" : "") + (W.picked === i.id ? " picked" : "") +
             (o.needs_help ? " ours-need-help" : (o.total ? " ours" : "")));
    setText(li.children[0], String(i.severity));
    setText(li.children[1], i.title);
    var meta = li.children[2].children;
    setText(meta[0], o.total ? window.crisisPeople.oursText(i.id) : "");
    setText(meta[1], (o.total ? " | " : "") + placeText(i, config()) + " | " + i.status + " | event " +
            ago(i.reported_at, now).replace(" ago", "") + ", updated " + ago(i.updated_at, now));
  }

  function noteNode(key, cls) {
    var node = W.nodes.get(key);
    if (!node) { node = h("li", {className: cls, "data-note": key}); W.nodes.set(key, node); }
    return node;
  }

  function renderList() {
    var el = document.getElementById("incident-list"), live = liveState();
    if (!el || !live || !live.ready) { return; }
    if (el !== W.listEl) { W.listEl = el; W.nodes = new Map(); el.textContent = ""; }
    // What this render shows: the incidents as of the next flush too (crisis_live.js flush bumps
    // incRev for what is dirty now), so the tick does not draw the same list again.
    W.listRev = live.incRev + (live.dirty.incidents ? 1 : 0);
    W.listAt = Date.now();
    var now = Date.now(), c = config() || {};
    var want = listed(), order = [];
    want.open.forEach(function (m) { order.push(m); });
    if (want.more) {
      var more = noteNode("__more", "incident-more");
      setText(more, want.more + " more not shown (listed: the " + LIST_MAX + " first, those affecting our people, then the most " +
              "severe; see the board for all)");
      order.push(more);
    }
    if (!want.open.length) {
      var none = noteNode("__none", "incident-none");
      setText(none, "No open incident.");
      order.push(none);
    }
    if (want.closed.length) {
      var head = noteNode("__closed", "incident-closed-head");
      setText(head, "Closed in the last " + (c.closed_visible_minutes || 60) + " min (greyed; they then leave the list):");
      order.push(head);
      want.closed.forEach(function (m) { order.push(m); });
    }
    var keep = new Set();
    order.forEach(function (entry, n) {
      var node;
      if (entry.nodeType) {
        node = entry;
        keep.add(entry.getAttribute("data-note"));
      } else {
        var id = entry.incident.id;
        node = W.nodes.get(id);
        if (!node) { node = itemNode(id); W.nodes.set(id, node); }
        fillItem(node, entry.incident, now);
        keep.add(id);
      }
      if (el.children[n] !== node) { el.insertBefore(node, el.children[n] || null); }
    });
    while (el.children.length > order.length) { el.removeChild(el.lastChild); }
    W.nodes.forEach(function (node, key) { if (!keep.has(key)) { W.nodes.delete(key); } });
  }

  function onListClick(e) {
    var li = e.target.closest && e.target.closest("#incident-list li[data-incident-id]");
    if (!li) { return; }
    // Selecting text in an item is not opening it.
    var sel = window.getSelection && window.getSelection();
    if (sel && !sel.isCollapsed && sel.toString().trim() && li.contains(sel.anchorNode)) { return; }
    open(li.getAttribute("data-incident-id"), e);
  }

  // -- the incident panel --------------------------------------------------------------------

  function section(id, title) {
    return [title ? h("h3", {text: title}) : null, h("div", {id: id, className: "ip-section"})];
  }

  function skeleton(panel, c) {
    panel.textContent = "";
    var parts = [
      h("div", {className: "ip-head"}, [
        h("h2", {id: "incident-panel-title"}),
        h("button", {id: "incident-panel-hide", className: "action ip-hide", title: "Hide this panel", "aria-label": "Hide this panel",
                     text: "Hide"})
      ]),
      h("dl", {id: "incident-panel-facts", className: "facts ip-facts"}),
      c.can_edit ? h("div", {id: "incident-panel-lifecycle", className: "detail-actions lifecycle"}) : null,
      h("div", {id: "incident-panel-message", className: "detail-message", role: "status"})
    ];
    parts = parts.concat(section("incident-panel-people", "Our people there"));
    parts = parts.concat(section("incident-panel-movements", "Movements under way around it"));
    parts = parts.concat(section("incident-panel-candidates", "Surge officers to send"));
    parts.push(h("div", {id: "incident-panel-confirm-box", className: "ip-confirm", hidden: "hidden"}, [
      h("p", {id: "incident-panel-confirm-text"}),
      h("button", {id: "incident-panel-confirm", className: "action action-primary", text: "Confirm dispatch"}),
      h("button", {id: "incident-panel-confirm-cancel", className: "action", text: "Cancel"})
    ]));
    parts.push(h("div", {id: "incident-panel-dispatch-result", className: "ip-result", role: "status"}));
    parts.push(h("a", {id: "incident-panel-open", className: "detail-link", text: "Open the incident's own page (history, all people)"}));
    parts.forEach(function (p) { if (p) { panel.appendChild(p); } });
  }

  function fact(dl, key, label, value) {
    var row = dl.querySelector("[data-fact='" + key + "']");
    if (!row) {
      row = h("div", {className: "fact", "data-fact": key}, [h("dt", {text: label}), h("dd")]);
      dl.appendChild(row);
    }
    setText(row.children[1], value === null || value === undefined || value === "" ? "-" : String(value));
  }

  function renderFacts() {
    var panel = document.getElementById("incident-panel");
    if (!panel || !W.picked) { return; }
    var i = incidentOf(W.picked) || W.fetched;
    if (!i || i.id !== W.picked) { return; }
    var c = config() || {};
    setText(document.getElementById("incident-panel-title"), i.title);
    setClass(panel, "workspace-panel sev-" + i.severity + (i.status === "closed" ? " incident-closed" : ""));
    var dl = document.getElementById("incident-panel-facts");
    var now = Date.now();
    fact(dl, "type", "Type", typeLabel(i));
    fact(dl, "severity", "Severity", String(i.severity));
    fact(dl, "status", "Status", i.status);
    fact(dl, "age", "Event age", ago(i.reported_at, now).replace(" ago", "") + " (reported " + utc(i.reported_at) + ")");
    fact(dl, "updated", "Last update", ago(i.updated_at, now) + " (" + utc(i.updated_at) + ")");
    fact(dl, "place", "Place", [window.crisisLive.countriesOf(i).join(", "), regionNames(i, c).join(", ")].filter(Boolean).join(", ") +
         (i.approximate ? " (approximate)" : ""));
    // As who-is-affected uses it (an area wins over a radius), as the incident page says it.
    var bySeverity = c && c.default_radius_km ? c.default_radius_km[String(i.severity)] : null;
    fact(dl, "radius", "Affected radius", i.area ? "polygon" : (i.radius_km ? i.radius_km + " km" :
         (bySeverity ? bySeverity + " km (by severity)" : "by severity")));
    var link = document.getElementById("incident-panel-open");
    if (link) { link.setAttribute("href", "/incident/" + encodeURIComponent(i.id)); }
    renderLifecycle(i);
    if (W.candidatesClosed !== (i.status === "closed")) { renderCandidates(); }  // closed or reopened: Send goes or comes back
  }

  // Surge officers still sent to the incident (not yet stood down), as crisis_dispatch.js holds them.
  var STILL_SENT = ["requested", "accepted", "travelling", "on_site"];  // crisis/roster/model.py STILL_SENT

  function stillSent(id) {
    var held = (window.crisisDispatch && window.crisisDispatch.state && window.crisisDispatch.state.dispatches) || {};
    return Object.keys(held).filter(function (k) {
      var d = held[k];
      return d && String(d.incident_id) === String(id) && STILL_SENT.indexOf(d.status) >= 0;
    }).length;
  }

  // The affected people still needing help or not accounted for: closing ends the incident's
  // roll-call (crisis/ui/components/lifecycle.py people_words says the same).
  function peopleWords(counts) {
    counts = counts || {};
    var need = Number(counts.needs_help) || 0, missing = (Number(counts.unreachable) || 0) + (Number(counts.no_response) || 0);
    var parts = [];
    if (need) { parts.push(need + (need === 1 ? " person still needs" : " people still need") + " help"); }
    if (missing) { parts.push(missing + (missing === 1 ? " is" : " are") + " not accounted for"); }
    return parts.length ? " Of the people affected, " + parts.join(" and ") +
      ": closing ends its roll-call, and they leave the counts of people needing help." : "";
  }

  function renderLifecycle(i) {
    var box = document.getElementById("incident-panel-lifecycle"), c = config() || {};
    var sent = stillSent(i.id);
    var people = W.affected && W.affected.incident === i.id ? peopleWords(W.affected.counts) : "";
    if (!box || W.lifecycleFor === i.id + "|" + i.status + "|" + sent + "|" + people) { return; }
    W.lifecycleFor = i.id + "|" + i.status + "|" + sent + "|" + people;
    box.textContent = "";
    box.setAttribute("data-status", i.status);
    ((c.workflow || {})[i.status] || []).forEach(function (step) {
      var attrs = {className: "action lifecycle-step action-" + step.to + (step.primary ? " action-primary lifecycle-next" : ""),
                   "data-to": step.to, text: step.label};
      if (step.confirm) {
        // closing says how many officers are still sent (crisis/ui/components/lifecycle.py sent_words)
        attrs["data-confirm"] = step.confirm + (step.to === "closed" && sent > 0 ?
          " " + sent + " surge officer" + (sent !== 1 ? "s are" : " is") +
          " still sent to it: stand them down, or cancel their dispatches, on the dispatch page." : "") +
          (step.to === "closed" ? people : "");
      }
      box.appendChild(h("button", attrs));
    });
  }

  function moveStatus(to) {
    var id = W.picked, msg = document.getElementById("incident-panel-message");
    setText(msg, "Saving...");
    api("PATCH", "/api/v1/incidents/" + encodeURIComponent(id), {status: to}).then(function (answer) {
      if (W.picked !== id) { return; }
      if (answer.ok) {
        setText(msg, "Saved: the incident is now " + to + ".");
        if (answer.body && answer.body.id === id) { W.fetched = answer.body; }
      } else {
        setText(msg, "Not saved: " + refusal(answer));
      }
    }).catch(function (err) { setText(msg, "Not saved: " + err); });
  }

  function countsText(counts, pct) {
    // Nobody affected: say so; "100 %" (or "0 %") of nobody would read as a roll-call done.
    if (!counts || !counts.total) { return "Nobody of ours is affected so far."; }
    var parts = STATUS_ORDER.map(function (s) { return (counts[s] || 0) + " " + STATUS_WORDS[s]; });
    return counts.total + " affected: " + parts.join(", ") + " | " + (typeof pct === "number" ? pct.toFixed(1) : "0.0") +
      " % accounted for";
  }

  function renderPeople() {
    var box = document.getElementById("incident-panel-people");
    if (!box) { return; }
    var body = W.affected;
    box.textContent = "";
    if (!body) { box.appendChild(h("p", {className: "map-people-note", text: "Loading who is affected..."})); return; }
    if (body.error) { box.appendChild(h("p", {className: "map-people-note", text: body.error})); return; }
    var loud = body.counts && body.counts.needs_help > 0 ? " loud" : "";
    // A desk's figure is not the whole: say how many more are affected in other regions
    // (crisis/ui/components/affected_people.py elsewhere_words says the same).
    var elsewhere = Number(body.in_other_regions) || 0, shown = (body.counts && body.counts.total) || 0;
    box.appendChild(h("p", {id: "incident-panel-counts", className: "map-people-counts" + loud,
                            text: !shown && elsewhere ? "Nobody in your regions is affected."
                                                      : countsText(body.counts, body.accounted_pct)}));
    if (elsewhere > 0) {
      box.appendChild(h("p", {id: "incident-panel-elsewhere", className: "map-people-note",
        text: (shown ? "and " : "") + elsewhere + (shown ? " more" : "") + " affected " +
              (elsewhere === 1 ? "person" : "people") +
              " in other regions, not shown to this desk (their region's desk and the duty officers see them)"}));
    }
    var people = (body.people || []).slice().sort(function (a, b) {
      return STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status);
    });
    var ul = h("ul", {className: "map-people-list"});
    people.slice(0, PEOPLE_SHOWN).forEach(function (p) {
      ul.appendChild(h("li", {className: "map-person status-" + p.status, "data-status": p.status}, [
        h("span", {className: "map-person-status", text: STATUS_WORDS[p.status] || p.status}),
        h("span", {className: "map-person-who", text: p.name || p.traveller_id || "a person"}),
        h("span", {className: "map-person-meta", text: p.reason === "itinerary" ? "arriving (itinerary)" :
          (typeof p.distance_km === "number" ? p.distance_km.toFixed(1) + " km from the centre" : "")})
      ]));
    });
    if (people.length) { box.appendChild(ul); }
    if (people.length > PEOPLE_SHOWN) {
      box.appendChild(h("p", {className: "map-people-note", text: "and " + (people.length - PEOPLE_SHOWN) +
        " more: open the incident's own page"}));
    }
  }

  function fetchAffected() {
    var id = W.picked;
    W.affectedAt = Date.now();
    api("GET", "/api/v1/incidents/" + encodeURIComponent(id) + "/affected").then(function (answer) {
      if (W.picked !== id) { return; }
      W.affected = answer.ok ? answer.body : {error: "Not available: " + refusal(answer)};
      renderPeople();
      refreshLifecycle();  // closing's question says who still needs help
    }).catch(function (err) { if (W.picked === id) { W.affected = {error: "Not available: " + err}; renderPeople(); } });
  }

  // Nearest distance (km) from a point to a GeoJSON geometry's bounding box (0 inside it).
  function kmToBox(lat, lon, geometry) {
    var xs = [], ys = [];
    (function walk(c) {
      if (typeof c[0] === "number") { xs.push(c[0]); ys.push(c[1]); return; }
      c.forEach(walk);
    })(geometry.coordinates || []);
    if (!xs.length) { return Infinity; }
    var cl = Math.min(Math.max(lat, Math.min.apply(null, ys)), Math.max.apply(null, ys));
    var cn = Math.min(Math.max(lon, Math.min.apply(null, xs)), Math.max.apply(null, xs));
    var r = Math.PI / 180, dlat = (cl - lat) * r, dlon = (cn - lon) * r;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) + Math.cos(lat * r) * Math.cos(cl * r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  function nearMovements(i) {
    var reach = Math.max(300, (i.radius_km || 0) + 200);
    return (W.areas || []).filter(function (a) {
      var m = a.movement;
      if (!m || m.closed_at) { return false; }
      // a whole-country area in any country the incident spans
      if (a.country && window.crisisLive.countriesOf(i).indexOf(a.country) >= 0) { return true; }
      return a.geometry ? kmToBox(i.lat, i.lon, a.geometry) <= reach : false;
    });
  }

  function renderMovements() {
    var box = document.getElementById("incident-panel-movements");
    var i = incidentOf(W.picked) || W.fetched;
    if (!box || !i) { return; }
    box.textContent = "";
    if (W.areas === null) { box.appendChild(h("p", {className: "map-people-note", text: "Loading movements..."})); return; }
    var found = nearMovements(i);
    if (!found.length) { box.appendChild(h("p", {className: "map-people-note", text: "No relocation or evacuation under way around it."})); return; }
    var ul = h("ul", {className: "ip-movements"});
    found.forEach(function (a) {
      var m = a.movement, n = m.counts || {};
      var words = ["arrived", "moving", "to_move"].map(function (k) { return (n[k] || 0) + " " + PROGRESS_WORDS[k]; }).join(", ");
      ul.appendChild(h("li", {className: "ip-movement", "data-area-id": a.id}, [
        h("a", {href: "/areas?area=" + encodeURIComponent(a.id), className: "ip-movement-name", text: a.name || a.id}),
        h("span", {className: "ip-movement-action", text: " phase " + m.phase + ", " + m.action + (m.out_of_country ? " out of the country" : "")}),
        h("span", {className: "ip-movement-counts", text: ": " + words + (n.overdue ? " (" + n.overdue + " overdue)" : "")})
      ]));
    });
    box.appendChild(ul);
  }

  function fetchAreas() {
    var id = W.picked;
    W.areasAt = Date.now();
    api("GET", "/api/v1/areas").then(function (answer) {
      if (W.picked !== id) { return; }
      var b = answer.body;
      W.areas = answer.ok ? (Array.isArray(b) ? b : (b && (b.areas || b.items)) || []) : [];
      renderMovements();
    }).catch(function () { if (W.picked === id) { W.areas = []; renderMovements(); } });
  }

  function candidateText(cand) {
    var bits = [];
    bits.push(cand.on_standby ? "on standby" + (cand.readiness_hours ? " (" + cand.readiness_hours + " h)" : "") : "not on standby");
    if (cand.availability) { bits.push(cand.availability.replace(/_/g, " ")); }
    if (typeof cand.distance_km === "number") { bits.push(Math.round(cand.distance_km) + " km"); }
    if (typeof cand.eta_hours === "number") { bits.push("ETA " + cand.eta_hours.toFixed(1) + " h"); }
    // What the officer brings (the panel has no filter: the dispatch page has): training, languages in words.
    if ((cand.skills || []).length) { bits.push(cand.skills.join(", ").replace(/_/g, " ")); }
    if ((cand.languages || []).length) { bits.push("speaks " + cand.languages.map(languageName).join(", ")); }
    return bits.join(" | ");
  }

  var languageNames = null;
  function languageName(code) {
    try { languageNames = languageNames || new Intl.DisplayNames(["en"], {type: "language"}); } catch (err) { return code; }
    try { return languageNames.of(code) || code; } catch (err) { return code; }
  }

  function isClosed() {
    var i = incidentOf(W.picked) || W.fetched;
    return !!(i && i.id === W.picked && i.status === "closed");
  }

  function renderCandidates() {
    var box = document.getElementById("incident-panel-candidates"), c = config() || {};
    if (!box) { return; }
    box.textContent = "";
    W.candidatesClosed = isClosed();
    if (W.candidatesClosed) {
      // Nobody can be sent to a closed incident (the API refuses it): no Send, and why.
      var confirmBox = document.getElementById("incident-panel-confirm-box");
      if (confirmBox) { confirmBox.hidden = true; }
      W.chosen = null;
      box.appendChild(h("p", {className: "map-people-note ip-closed-note",
        text: "The incident is closed: nobody can be dispatched to it." + (c.can_edit ? " Reopen it to send someone." : "")}));
      return;
    }
    var body = W.candidates;
    if (!body) { box.appendChild(h("p", {className: "map-people-note", text: "Ranking the standby roster..."})); return; }
    if (body.error) { box.appendChild(h("p", {className: "map-people-note", text: body.error})); return; }
    var list = body.candidates || [];
    if (!list.length) { box.appendChild(h("p", {className: "map-people-note", text: "No officer on the roster for this incident."})); return; }
    var ol = h("ol", {className: "ip-candidates"});
    list.forEach(function (cand) {
      // A desk is told of other regions' officers too: where they stand, not who they are.
      var who = cand.name || cand.officer_id ||
        (cand.region ? "an officer of " + ((c.regions && c.regions[cand.region]) || cand.region) : "an officer");
      ol.appendChild(h("li", {className: "candidate" + (cand.availability ? " unavailable" : "") + (cand.outside ? " outside" : ""), "data-officer-id": cand.officer_id || ""}, [
        h("span", {className: "cand-who", text: who}),
        h("span", {className: "cand-meta", text: candidateText(cand)}),
        c.can_edit && cand.officer_id ? h("button", {className: "action candidate-send", "data-officer-id": cand.officer_id,
                                                     text: "Send"}) : null
      ]));
    });
    box.appendChild(ol);
    if (body.more) {
      // Duty officers: the whole ranked list, with skill and language filters, one click away.
      box.appendChild(c.can_edit ?
        h("p", {className: "map-people-note"}, [
          h("a", {id: "incident-panel-all-candidates", href: "/dispatch?incident=" + encodeURIComponent(W.picked),
                  text: body.more + " more ranked: all of them, with filters by skill and language, on the dispatch page"})]) :
        h("p", {className: "map-people-note", text: body.more + " more ranked (the duty officers dispatch)"}));
    }
  }

  function fetchCandidates() {
    var id = W.picked;
    api("GET", "/api/v1/incidents/" + encodeURIComponent(id) + "/candidates?limit=5").then(function (answer) {
      if (W.picked !== id) { return; }
      W.candidates = answer.ok ? answer.body : {error: "Not available: " + refusal(answer)};
      renderCandidates();
    }).catch(function (err) { if (W.picked === id) { W.candidates = {error: "Not available: " + err}; renderCandidates(); } });
  }

  function chooseCandidate(officerId) {
    if (isClosed()) { renderCandidates(); return; }
    var cand = ((W.candidates && W.candidates.candidates) || []).filter(function (x) { return x.officer_id === officerId; })[0];
    if (!cand) { return; }
    W.chosen = cand;
    var i = incidentOf(W.picked) || W.fetched || {title: W.picked};
    setText(document.getElementById("incident-panel-confirm-text"),
            "Send " + (cand.name || cand.officer_id) + " to \u201c" + i.title + "\u201d?" +
            (typeof cand.eta_hours === "number" ? " Expected on site in about " + cand.eta_hours.toFixed(1) + " h." : ""));
    document.getElementById("incident-panel-confirm-box").hidden = false;
    setText(document.getElementById("incident-panel-dispatch-result"), "");
    document.getElementById("incident-panel-confirm").focus();
  }

  function confirmDispatch() {
    var id = W.picked, cand = W.chosen, result = document.getElementById("incident-panel-dispatch-result");
    if (!cand) { return; }
    var button = document.getElementById("incident-panel-confirm");
    button.disabled = true;
    setText(result, "Dispatching...");
    api("POST", "/api/v1/dispatches", {incident_id: id, officer_id: cand.officer_id}).then(function (answer) {
      button.disabled = false;
      if (W.picked !== id) { return; }
      document.getElementById("incident-panel-confirm-box").hidden = true;
      W.chosen = null;
      if (answer.ok) {
        var d = answer.body || {};
        result.className = "ip-result dispatch-done";
        result.setAttribute("data-dispatch-id", d.id || "");
        setText(result, "Dispatched " + (cand.name || cand.officer_id) + ": " + String(d.status || "requested").replace(/_/g, " ") +
                (d.eta ? ", expected " + utc(d.eta) : "") + ".");
        fetchCandidates();
      } else {
        result.className = "ip-result dispatch-refused";
        setText(result, "Not dispatched: " + refusal(answer));
      }
    }).catch(function (err) { button.disabled = false; setText(result, "Not dispatched: " + err); });
  }

  function markPicked() {
    W.nodes.forEach(function (node, key) {
      if (node.hasAttribute("data-incident-id")) { node.classList.toggle("picked", key === W.picked); }
    });
  }

  // -- the map goes to the incident opened ---------------------------------------------------

  function areaBounds(geometry) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    (function walk(c) {
      if (!Array.isArray(c)) { return; }
      if (typeof c[0] === "number") {
        b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
        return;
      }
      c.forEach(walk);
    })(geometry && geometry.coordinates);
    return b[0] <= b[2] && b[1] <= b[3] ? [[b[0], b[1]], [b[2], b[3]]] : null;
  }

  function userMoving(map) {
    return ["dragPan", "touchZoomRotate", "dragRotate"].some(function (name) {
      return map[name] && typeof map[name].isActive === "function" && map[name].isActive();
    });
  }

  // Its area fitted into view, else its point at zoom FOCUS_ZOOM or closer (the user's zoom
  // when closer). Not while the user drags the map: their move wins. `cause`: the click or key
  // behind it; a move with an event is the user's for Plotly, which keeps it across redraws.
  function showOnMap(id, cause) {
    var map = liveMap(), live = liveState();
    var m = live && live.incidents.get(id);
    if (!map || !m || userMoving(map)) { return false; }
    var eventData = {originalEvent: cause || new MouseEvent("click")};
    var bounds = m.display_area ? areaBounds(m.display_area) : null;
    var box = map.getContainer().getBoundingClientRect();
    var padding = Math.round(FOCUS_PADDING * Math.min(box.width, box.height));
    var camera = bounds ? map.cameraForBounds(bounds, {padding: padding, maxZoom: FOCUS_MAX_ZOOM}) : null;
    if (!camera) {
      camera = {center: [Number(m.incident.lon), Number(m.incident.lat)], zoom: Math.max(map.getZoom(), FOCUS_ZOOM)};
    }
    var target = {center: camera.center, zoom: camera.zoom};
    map.easeTo(Object.assign({duration: FOCUS_MS}, target), eventData);
    finishMove(map, id, target, eventData);
    return true;
  }

  // A redraw of the map's figure (a live update arriving meanwhile) sets the map's view, which
  // stops a move on its way: the map would stay wherever it was. Unless the user took the map
  // meanwhile (a press, a wheel, a touch, a key) or opened another incident, the move is finished
  // at once where it stopped short.
  function finishMove(map, id, target, eventData) {
    var box = map.getCanvasContainer(), touched = false, started = performance.now();
    var kinds = ["mousedown", "wheel", "touchstart", "keydown"];
    function touch() { touched = true; }
    kinds.forEach(function (k) { box.addEventListener(k, touch, true); });
    map.once("moveend", function () {
      kinds.forEach(function (k) { box.removeEventListener(k, touch, true); });
      // (a moveend long after: not this move's, which never began)
      if (performance.now() - started > FOCUS_MS + 2000) { return; }
      // After what stopped it has set its view (moveend comes from inside its stop()).
      setTimeout(function () {
        if (touched || W.picked !== id || userMoving(map) || map.isMoving()) { return; }
        var at = map.project(map.getCenter()), want = map.project(target.center);
        var off = Math.abs(at.x - want.x) + Math.abs(at.y - want.y);
        if (Math.abs(map.getZoom() - target.zoom) > 0.01 || off > 2) { map.jumpTo(target, eventData); }
      }, 0);
    });
  }

  // A pin put by a typed place or coordinates: the map goes to it, at the zoom the server
  // chose for what was typed (a town closer than a country), or closer when already so.
  function showPin(click) {
    var map = liveMap();
    if (!map || userMoving(map)) { return; }
    var lat = Number(click.lat), lon = Number(click.lon);
    if (!isFinite(lat) || !isFinite(lon)) { return; }
    var eventData = {originalEvent: new MouseEvent("click")};
    var target = {center: [lon, lat], zoom: Math.max(map.getZoom(), Number(click.zoom) || FOCUS_ZOOM)};
    map.easeTo(Object.assign({duration: FOCUS_MS}, target), eventData);
    finishMove(map, W.picked, target, eventData);
  }

  // Open an incident in the panel (and move the map to it); false when this page has none
  // (then crisis_live.js does as before). `cause`: the click or key that asked.
  function open(id, cause) {
    var panel = document.getElementById("incident-panel"), c = config();
    if (!panel || !c) { return false; }
    id = String(id);
    W.picked = id;
    W.fetched = null;
    W.lifecycleFor = null;
    W.affected = null;
    W.areas = null;
    W.candidates = null;
    W.candidatesClosed = null;
    W.chosen = null;
    skeleton(panel, c);
    panel.hidden = false;
    panel.setAttribute("data-incident-id", id);
    if (!incidentOf(id)) {
      api("GET", "/api/v1/incidents/" + encodeURIComponent(id)).then(function (answer) {
        if (W.picked === id && answer.ok) { W.fetched = answer.body; renderFacts(); renderMovements(); }
      });
    }
    renderFacts();
    markPicked();
    showOnMap(id, cause);
    renderPeople();
    renderMovements();
    renderCandidates();
    fetchAffected();
    fetchAreas();
    fetchCandidates();
    // For the page scripts that add to the picked incident (crisis_dispatch.js: who is coming).
    document.dispatchEvent(new CustomEvent("crisis:incident-picked", {detail: {id: id}}));
    return true;
  }

  function hidePanel() {
    var panel = document.getElementById("incident-panel");
    W.picked = null;
    if (panel) { panel.hidden = true; panel.textContent = ""; }
    markPicked();
  }

  function onPanelClick(e) {
    var t = e.target;
    if (!t.closest || !t.closest("#incident-panel")) { return; }
    var send = t.closest(".candidate-send");
    if (send) { chooseCandidate(send.getAttribute("data-officer-id")); return; }
    if (t.closest("#incident-panel-confirm")) { confirmDispatch(); return; }
    if (t.closest("#incident-panel-confirm-cancel")) { document.getElementById("incident-panel-confirm-box").hidden = true; W.chosen = null; return; }
    if (t.closest("#incident-panel-hide")) { hidePanel(); return; }
    var step = t.closest("#incident-panel-lifecycle button[data-to]");
    if (step) { moveStatus(step.getAttribute("data-to")); }
  }

  // -- live ----------------------------------------------------------------------------------

  function onIncidentMessage(msg) {
    scheduleList();
    if (msg && msg.incident && msg.incident.id === W.picked) {
      W.fetched = null;
      renderFacts();
    }
  }

  var listTimer = null;
  function scheduleList() {
    if (listTimer === null) { listTimer = setTimeout(function () { listTimer = null; renderList(); }, 50); }
  }

  function refreshLifecycle() {
    var i = W.picked && (incidentOf(W.picked) || W.fetched);
    if (i && i.id === W.picked) { renderLifecycle(i); }
  }

  // Our people in an incident changed: the list says so and puts it in its place.
  document.addEventListener("crisis:ours", scheduleList);

  // An officer sent or stood down: the Close button's question says how many are still sent.
  document.addEventListener("crisis:dispatches", refreshLifecycle);

  document.addEventListener("crisis:affected", function (e) {
    var msg = e.detail;
    if (!msg || !W.picked || msg.incident !== W.picked) { return; }
    var counts = document.getElementById("incident-panel-counts");
    if (counts) {
      setText(counts, countsText(msg.counts, msg.accounted_pct));
      counts.className = "map-people-counts" + (msg.counts && msg.counts.needs_help > 0 ? " loud" : "");
    }
    if (W.affected && W.affected.incident === msg.incident && msg.counts) {
      W.affected.counts = msg.counts;  // and closing's question follows
      refreshLifecycle();
    }
    // The counts are the message's at once; who they are is fetched again once the changes
    // have settled for a moment (at most every REFETCH_MS while they keep coming).
    if (W.affectedTimer === null) {
      W.affectedTimer = setTimeout(function () { W.affectedTimer = null; if (W.picked) { fetchAffected(); } },
                                   Math.max(REFETCH_MS / 2, W.affectedAt + REFETCH_MS - Date.now()));
    }
  });

  ["crisis:movement", "crisis:areas"].forEach(function (name) {
    document.addEventListener(name, function () {
      if (!W.picked || W.areasTimer !== null) { return; }
      W.areasTimer = setTimeout(function () { W.areasTimer = null; if (W.picked) { fetchAreas(); } },
                                Math.max(0, W.areasAt + REFETCH_MS - Date.now()));
    });
  });

  document.addEventListener("crisis:dispatch", function () { if (W.picked && W.candidates && !W.chosen) { fetchCandidates(); } });

  // A failover (crisis:reread, crisis_live.js; also after a reconnection): the open incident's people, movements and
  // candidates are read again from the new server (its facts follow the reset snapshot).
  document.addEventListener("crisis:reread", function () {
    if (!W.picked) { return; }
    renderFacts();
    fetchAffected();
    fetchAreas();
    if (!W.chosen) { fetchCandidates(); }
  });

  // -- reporting -----------------------------------------------------------------------------

  // (A dcc.Store has no element: the report-click store is there when the report form is.)
  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props && document.getElementById("report-panel")) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function pinData() {
    return {type: "FeatureCollection", features: W.pin ? [{type: "Feature", properties: {},
      geometry: {type: "Point", coordinates: [W.pin.lon, W.pin.lat]}}] : []};
  }

  function liveMap() { return window.crisisLive && window.crisisLive.layer && window.crisisLive.layer.map; }

  function drawPin(map) {
    map = map || liveMap();
    if (!map || !map.getStyle || !map.getStyle()) { return; }
    try {
      var source = map.getSource(PIN_SOURCE);
      if (!source) {
        map.addSource(PIN_SOURCE, {type: "geojson", data: pinData()});
        map.addLayer({id: PIN_LAYERS[0], type: "circle", source: PIN_SOURCE,
                      paint: {"circle-radius": 11, "circle-color": "#ffffff", "circle-stroke-color": "#111111", "circle-stroke-width": 2}});
        map.addLayer({id: PIN_LAYERS[1], type: "circle", source: PIN_SOURCE,
                      paint: {"circle-radius": 5, "circle-color": "#111111"}});
      } else {
        source.setData(pinData());
        PIN_LAYERS.forEach(function (l) { if (map.getLayer(l)) { map.moveLayer(l); } });
      }
    } catch (err) { /* the style is being replaced: drawn again on the next styledata */ }
  }

  function placing() { return W.placing; }

  function startPlacing() {
    W.placing = true;
    setProps("report-locate", {style: {display: "block"}});
    var map = liveMap();
    if (map) { map.getCanvas().style.cursor = "crosshair"; map.getCanvas().classList.add("placing"); }
    var input = document.getElementById("report-place");
    if (input) { input.focus(); }
    document.body.classList.add("report-placing");
  }

  function stopPlacing() {
    W.placing = false;
    W.pin = null;
    drawPin();
    setProps("report-locate", {style: {display: "none"}});
    var map = liveMap();
    if (map) { map.getCanvas().style.cursor = ""; map.getCanvas().classList.remove("placing"); }
    document.body.classList.remove("report-placing");
  }

  function place(lat, lon) {
    setProps("report-click", {data: {lat: lat, lon: lon, at: Date.now(), via: "map"}});
  }

  if (window.crisisLive && window.crisisLive.onMap) {
    window.crisisLive.onMap(function (map) {
      map.on("styledata", function () { if (W.pin && !map.getSource(PIN_SOURCE)) { drawPin(map); } });
      if (W.pin) { drawPin(map); }
    });
  }
  if (window.crisisLive && window.crisisLive.onIncident) { window.crisisLive.onIncident(onIncidentMessage); }

  // -- page-wide: clicks, confirmations, the tick --------------------------------------------

  // Before Dash (React listens at its root) or any handler sees it: a button that asks first.
  window.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-confirm]");
    if (!b) { return; }
    if (!window.confirm(b.getAttribute("data-confirm"))) { e.stopImmediatePropagation(); e.preventDefault(); }
  }, true);

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t.closest) { return; }
    if (t.closest("#report-start")) { startPlacing(); return; }
    if (t.closest("#report-locate-cancel") || t.closest("#report-cancel")) { stopPlacing(); return; }
    onListClick(e);
    onPanelClick(e);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") { return; }
    var li = e.target.closest && e.target.closest("#incident-list li[data-incident-id]");
    if (li) { open(li.getAttribute("data-incident-id"), e); }
  });

  // Every second: the list when the incidents changed (or the page was drawn anew), the ages
  // (each text set only when its words change), and a report just made ends the placing.
  setInterval(function () {
    var live = liveState();
    if (!live || !live.ready) { return; }
    var el = document.getElementById("incident-list");
    if (el && (el !== W.listEl || live.incRev !== W.listRev || Date.now() - W.listAt > 20000)) { renderList(); }
    if (W.picked) {
      if (!document.getElementById("incident-panel-facts")) { W.picked = null; } else { renderFacts(); }
    }
    var result = document.getElementById("report-result");
    var said = result ? result.textContent : "";
    if (said !== W.lastResult) {
      W.lastResult = said;
      if (said.indexOf("Reported:") === 0) { stopPlacing(); }
    }
  }, 1000);

  window.crisisWorkspace = {open: open, placing: placing, place: place, state: W, renderList: renderList, showOnMap: showOnMap};

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    // The report's point chose (map click, typed coordinates or a place): pin it, open the form.
    reportPlaced: function (click) {
      if (!click) { return [{display: "none"}, ""]; }
      W.pin = {lat: click.lat, lon: click.lon};
      if (!W.placing) { startPlacing(); }
      drawPin();
      if (click.via === "typed") { showPin(click); }  // a typed place may be anywhere: the map goes there
      return [{display: "block"}, "Pin at " + Number(click.lat).toFixed(4) + ", " + Number(click.lon).toFixed(4) +
              (click.approximate ? " (approximate: click the map to move it)" : " (click the map to move it)")];
    }
  });
})();
