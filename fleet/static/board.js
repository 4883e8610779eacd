// fleet status board: follows the status stream (server-sent events) and updates the page in
// place; says when the data is stale. Builds every piece of text with textContent (never HTML),
// and talks to nothing but this server.
(function () {
  "use strict";

  var body = document.body;
  var LABELS = {
    connected: "Connected", degraded: "Degraded", disconnected: "Disconnected",
    maintenance: "Maintenance", unknown: "Unknown", up: "Up", down: "Down",
    unreachable: "Unreachable"
  };
  var DEVICE_STATES = ["up", "degraded", "down", "unreachable", "maintenance", "unknown"];
  var SITE_STATES = ["disconnected", "degraded", "unknown", "maintenance", "connected"];
  var MAX_CHANGES = 25;

  function label(state) {
    return LABELS[state] || (state ? state.charAt(0).toUpperCase() + state.slice(1) : "");
  }

  // --- times ----------------------------------------------------------------------

  function ago(iso) {
    if (!iso) { return "–"; }
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) { return "just now"; }
    var minutes = Math.floor(seconds / 60), hours = Math.floor(seconds / 3600);
    var days = Math.floor(seconds / 86400);
    if (days) { return days + " d " + (hours % 24) + " h ago"; }
    if (hours) { return hours + " h " + (minutes % 60) + " min ago"; }
    return minutes + " min ago";
  }

  function utc(iso) {
    return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
  }

  function setTime(el, iso) {
    el.setAttribute("datetime", iso || "");
    el.title = utc(iso);
    el.textContent = ago(iso);
  }

  function refreshTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      if (iso) { el.textContent = ago(iso); }
    });
  }

  // --- applying an event ----------------------------------------------------------

  function setBadge(badge, state) {
    badge.dataset.state = state;
    var text = badge.querySelector(".label");
    if (text) { text.textContent = label(state); }
  }

  function linkText(link) {
    return link ? link.role + " " + link.medium + " (" + link.circuit_id + ")" : "none";
  }

  function deviceText(devices) {
    var parts = [];
    DEVICE_STATES.forEach(function (s) {
      if (devices && devices[s]) { parts.push(devices[s] + " " + s); }
    });
    return parts.length ? parts.join(" · ") : "none probed";
  }

  function bySite(code) {
    return document.querySelectorAll('[data-site="' + CSS.escape(code) + '"]');
  }

  function updateSite(site) {
    bySite(site.code).forEach(function (el) {
      var changed = el.dataset.state !== site.state;
      el.dataset.state = site.state;
      el.querySelectorAll('[data-field="state"]').forEach(function (b) { setBadge(b, site.state); });
      el.querySelectorAll('[data-field="since"]').forEach(function (t) { setTime(t, site.since); });
      el.querySelectorAll('[data-field="reason"]').forEach(function (r) { r.textContent = site.reason || ""; });
      el.querySelectorAll('[data-field="link"]').forEach(function (l) { l.textContent = linkText(site.link_in_use); });
      el.querySelectorAll('[data-field="devices"]').forEach(function (d) { d.textContent = deviceText(site.devices); });
      if (el.classList.contains("site-marker")) {
        el.dataset.since = site.since || "";
        el.dataset.link = linkText(site.link_in_use);
        var text = site.code + " " + site.name + ": " + label(site.state);
        el.setAttribute("aria-label", text);
        var title = el.querySelector("title");
        if (title) { title.textContent = text; }
      }
      if (changed && el.tagName === "TR") {
        el.classList.remove("changed");
        void el.offsetWidth;  // restart the highlight
        el.classList.add("changed");
      }
    });
  }

  function updateObject(event) {
    var row = document.querySelector('[data-object="' + event.object_type + ":" + event.object_id + '"]');
    if (!row) { return; }
    row.querySelectorAll('[data-field="state"]').forEach(function (b) { setBadge(b, event.new_state); });
    row.querySelectorAll('[data-field="since"]').forEach(function (t) { setTime(t, event.at); });
    row.querySelectorAll('[data-field="reason"]').forEach(function (r) { r.textContent = event.cause || ""; });
  }

  function addChange(event) {
    var list = document.getElementById("changes");
    if (!list) { return; }
    var page = body.dataset.sitePage;
    if (page && (!event.site || event.site.code !== page)) { return; }
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    item.dataset.eventId = event.id;
    var time = document.createElement("time");
    setTime(time, event.at);
    var what = document.createElement("span");
    what.className = "what";
    if (list.dataset.showSite === "yes" && event.site) {
      var a = document.createElement("a");
      a.href = "/sites/" + encodeURIComponent(event.site.code);
      a.textContent = event.site.code;
      what.appendChild(a);
      what.appendChild(document.createTextNode(" "));
    }
    what.appendChild(document.createTextNode(event.object_type + " " + event.object_key));
    var move = document.createElement("span");
    move.className = "move";
    move.appendChild(document.createTextNode(label(event.old_state) + " → "));
    var strong = document.createElement("strong");
    strong.dataset.state = event.new_state;
    strong.textContent = label(event.new_state);
    move.appendChild(strong);
    var cause = document.createElement("span");
    cause.className = "cause";
    cause.textContent = event.cause || "";
    item.append(time, what, move, cause);
    list.prepend(item);
    while (list.children.length > MAX_CHANGES) { list.lastElementChild.remove(); }
  }

  function updateCounts() {
    var counts = {}, seen = {}, total = 0;
    document.querySelectorAll("[data-row]").forEach(function (el) {
      if (seen[el.dataset.site]) { return; }
      seen[el.dataset.site] = true;
      counts[el.dataset.state] = (counts[el.dataset.state] || 0) + 1;
      total += 1;
    });
    SITE_STATES.forEach(function (s) {
      var dd = document.querySelector('[data-count="' + s + '"]');
      if (dd) { dd.textContent = counts[s] || 0; }
    });
    var all = document.querySelector('[data-count="total"]');
    if (all) { all.textContent = total; }
  }

  function apply(event) {
    if (event.site) { updateSite(event.site); }
    if (event.object_type !== "site") { updateObject(event); }
    addChange(event);
    updateCounts();
  }

  // --- the stream -----------------------------------------------------------------

  var live = document.getElementById("live");
  var streamUrl = body.dataset.stream;
  var heartbeatMs = Number(body.dataset.heartbeat || 15) * 1000;
  var lastId = body.dataset.lastEventId || "0";
  var lastMessage = Date.now();
  var source = null;
  var staleSince = null;

  function setLive(state, text) {
    if (!live) { return; }
    if (live.dataset.live !== state || live.textContent !== text) {
      live.dataset.live = state;
      live.textContent = text;
    }
    body.classList.toggle("stale", state === "stale");
    body.dataset.live = state;
  }

  function markLive() {
    lastMessage = Date.now();
    staleSince = null;
    setLive("live", "Live");
  }

  function markStale(why) {
    if (staleSince === null) { staleSince = new Date(); }
    var at = staleSince.toISOString().slice(11, 19);
    setLive("stale", "Stale since " + at + " UTC: " + why);
  }

  function connect() {
    if (!streamUrl || !window.EventSource) { return; }
    source = new EventSource(streamUrl + "?after=" + encodeURIComponent(lastId));
    source.addEventListener("hello", markLive);
    source.addEventListener("heartbeat", markLive);
    source.addEventListener("state", function (message) {
      markLive();
      lastId = message.lastEventId || lastId;
      apply(JSON.parse(message.data));
    });
    source.addEventListener("reset", function () { window.location.reload(); });
    source.addEventListener("error", function () {
      markStale("the status stream was lost; reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // Refused: when the token is no longer good, reloading leads to the sign-in page;
        // otherwise (the server is full, or away) try again later, from the last event.
        source = null;
        window.fetch("/api/v1/status/sites?limit=1", { credentials: "same-origin" })
          .then(function (response) {
            if (response.status === 401) { window.location.reload(); }
          })
          .catch(function () { return null; });
        window.setTimeout(connect, 10000);
      }
    });
  }

  window.setInterval(function () {
    if (source && Date.now() - lastMessage > 2 * heartbeatMs + 5000) {
      markStale("no news from the server");
    }
  }, 2000);
  window.setInterval(refreshTimes, 30000);

  // --- the map's popups -----------------------------------------------------------

  var popup = document.getElementById("popup");
  var opener = null;

  function closePopup() {
    if (!popup || popup.hidden) { return; }
    popup.hidden = true;
    if (opener) { opener.focus(); }
    opener = null;
  }

  function openPopup(marker) {
    var map = document.getElementById("map");
    var code = marker.dataset.site;
    popup.dataset.state = marker.dataset.state;
    popup.querySelector("#popup-title").textContent = code + " " + marker.dataset.name;
    popup.querySelector(".popup-state").textContent =
      label(marker.dataset.state) + (marker.dataset.since ? ", " + ago(marker.dataset.since) : "");
    popup.querySelector(".popup-meta").textContent =
      marker.dataset.kind + " · link in use: " + marker.dataset.link;
    var link = popup.querySelector(".popup-link");
    link.href = "/sites/" + encodeURIComponent(code);
    popup.hidden = false;
    var box = map.getBoundingClientRect(), dot = marker.getBoundingClientRect();
    var left = dot.left - box.left + dot.width + 8;
    var top = dot.top - box.top - 10;
    left = Math.max(4, Math.min(left, box.width - popup.offsetWidth - 4));
    top = Math.max(4, Math.min(top, box.height - popup.offsetHeight - 4));
    popup.style.left = left + "px";
    popup.style.top = top + "px";
    opener = marker;
    link.focus();
  }

  if (popup) {
    document.querySelectorAll(".site-marker").forEach(function (marker) {
      marker.addEventListener("click", function (e) {
        e.preventDefault();
        openPopup(marker);
      });
    });
    popup.querySelector(".close").addEventListener("click", closePopup);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { closePopup(); }
    });
    document.addEventListener("click", function (e) {
      if (!popup.hidden && !popup.contains(e.target) && !e.target.closest(".site-marker")) {
        closePopup();
      }
    });
  }

  connect();
}());

// The planner's list: a box that ticks every order (shown only with the script).
(function () {
  "use strict";
  var all = document.querySelector("[data-tick-all]");
  if (!all) { return; }
  all.hidden = false;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[form="bulk"][name="order"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
}());
