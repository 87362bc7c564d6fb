/* The shift log page (/shiftlog; crisis/ui/pages/shiftlog.py; helper B, issue 9).
 *
 * "Print the handover" prints the page (assets/shiftlog.css keeps only the handover on paper).
 * The log and the handover are re-read when the live picture changes: after an incident
 * message (crisisLive.onIncident), at most once a second, only while the page is shown.
 */
(function () {
  "use strict";

  var WAIT_MS = 1000;
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
