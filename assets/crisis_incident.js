/* Every view of an incident follows it live (helper B, issue 9).
 *
 * The incident detail (crisis/ui/components/incident_detail.py: the /incident/<id> page and
 * wherever else it is shown) carries data-incident-id and a store "incident-detail-signal".
 * When a pushed incident message (live, snapshot or replay: crisisLive.onIncident) is about
 * the incident shown, the store gets {id, stream_id}; a server callback then re-renders the
 * facts, the next steps and the history (crisis/ui/pages/incident.py follow_incident). The
 * owner and note fields are left alone. A burst of messages makes one re-render (100 ms).
 */
(function () {
  "use strict";

  var WAIT_MS = 100;
  var pending = null, timer = null;

  function shownId() {
    var el = document.querySelector(".incident-detail[data-incident-id]");
    return el ? el.getAttribute("data-incident-id") : null;  // (a dcc.Store has no element to look for)
  }

  function send() {
    timer = null;
    var msg = pending;
    pending = null;
    if (!msg || shownId() !== msg.incident.id) { return; }
    window.dash_clientside.set_props("incident-detail-signal",
                                     {data: {id: msg.incident.id, stream_id: msg.stream_id, status: msg.incident.status}});
  }

  function hook() {
    if (!window.crisisLive || !window.crisisLive.onIncident) { setTimeout(hook, 50); return; }
    window.crisisLive.onIncident(function (msg) {
      if (!msg || !msg.incident || shownId() !== msg.incident.id) { return; }
      pending = msg;
      if (timer === null) { timer = setTimeout(send, WAIT_MS); }
    });
  }
  hook();
})();
