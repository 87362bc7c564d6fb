/* The shift log page (/shiftlog; crisis/ui/pages/shiftlog.py; helper B, issue 9).
 *
 * "Print the handover" prints the page (assets/shiftlog.css keeps only the handover on paper).
 * The log and the handover are re-read when the live picture changes: after an incident
 * message (crisisLive.onIncident), at most every 5 s, only while the page is shown; the
 * server sends them only when they changed (crisis/ui/pages/shiftlog.py _fingerprint).
 * Every second, a long log drawn again and again kept the browser busy half the time.
 */
(function () {
  "use strict";

  var WAIT_MS = 5000;
  var timer = null, seq = 0;

  document.addEventListener("click", function (e) {
    var button = e.target && e.target.closest ? e.target.closest("#shiftlog-print") : null;
    if (button) { e.preventDefault(); window.print(); }
  });

  function changed() {
    if (timer !== null || !document.getElementById("shiftlog-page")) { return; }
    timer = setTimeout(function () {
      timer = null;
      if (!document.getElementById("shiftlog-page")) { return; }
      seq += 1;
      window.dash_clientside.set_props("shiftlog-signal", {data: {seq: seq}});
    }, WAIT_MS);
  }

  // The log, drawn from its rows (crisis/ui/pages/shiftlog.py log_rows): plain DOM, fast
  // for hundreds of entries; the same markup the tests and the print style know.
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function drawLog(rows) {
    var box = document.getElementById("shiftlog-log");
    if (!box) { return false; }
    var next;
    if (!rows || !rows.length) {
      next = el("p", "handover-empty", "Nothing changed in this time.");
    } else {
      next = el("ol", "shiftlog-entries");
      rows.forEach(function (r) {
        var li = el("li", "shiftlog-entry kind-" + r.kind + (r.auto ? "" : " note"));
        li.appendChild(el("span", "shiftlog-time", r.time));
        li.appendChild(el("span", "shiftlog-kind", r.kind));
        if (r.by !== null && r.by !== undefined) { li.appendChild(el("span", "shiftlog-by", r.by)); }
        var what = el(r.href ? "a" : "span", "shiftlog-what", r.what);
        if (r.href) { what.setAttribute("href", r.href); }
        li.appendChild(what);
        li.appendChild(el("span", "shiftlog-text", r.text));
        next.appendChild(li);
      });
    }
    box.replaceChildren(next);
    return true;
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.crisis = Object.assign(window.dash_clientside.crisis || {}, {
    shiftlogDraw: function (rows) {
      // the box is React's (an empty Div): drawn once it is in the page
      if (!drawLog(rows)) { setTimeout(function () { drawLog(rows); }, 0); }
      return Date.now();
    }
  });

  function hook() {
    if (!window.crisisLive || !window.crisisLive.onIncident) { setTimeout(hook, 50); return; }
    window.crisisLive.onIncident(changed);
    // People, movements and dispatches change the handover too.
    ["crisis:accountability", "crisis:movement", "crisis:dispatch", "crisis:areas"].forEach(function (name) {
      document.addEventListener(name, changed);
    });
  }
  hook();
})();
