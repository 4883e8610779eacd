// fleet status board: follows the status stream (server-sent events) and updates the page in
// place; says when the data is stale. Builds every piece of text with textContent (never HTML),
// and talks to nothing but this server. Its words come translated from the page, in the
// JSON block #fleet-strings (see fleet/api/formats.py); dates are formatted for the page's
// language in the site's time zone.
(function () {
  "use strict";

  var body = document.body;
  var LANG = document.documentElement.lang || "en";
  var STRINGS = (function () {
    var block = document.getElementById("fleet-strings");
    try { return block ? JSON.parse(block.textContent) : {}; } catch (e) { return {}; }
  }());

  // The translated string `key`, its %(name)s placeholders filled from `values`.
  function t(key, values) {
    var text = STRINGS[key] !== undefined ? STRINGS[key] : key;
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  }

  function number(n) {
    return new Intl.NumberFormat(LANG).format(n);
  }

  var DEVICE_STATES = ["up", "degraded", "down", "unreachable", "maintenance", "unknown"];
  var SITE_STATES = ["disconnected", "degraded", "unknown", "maintenance", "connected"];
  var MAX_CHANGES = 25;

  function choice(group, value) {
    var key = group + "." + value;
    return STRINGS[key] !== undefined ? STRINGS[key] : String(value || "").replace(/_/g, " ");
  }

  function label(state) {
    return choice("state", state);
  }

  // --- times ----------------------------------------------------------------------

  function ago(iso) {
    if (!iso) { return "–"; }
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) { return t("just_now"); }
    var minutes = Math.floor(seconds / 60), hours = Math.floor(seconds / 3600);
    var days = Math.floor(seconds / 86400);
    if (days) { return t("ago_days", { days: days, hours: hours % 24 }); }
    if (hours) { return t("ago_hours", { hours: hours, minutes: minutes % 60 }); }
    return t("ago_minutes", { minutes: minutes });
  }

  // The moment in the time zone `zone` (an IANA name, UTC without one), with the zone's name.
  function when(iso, zone) {
    if (!iso) { return ""; }
    zone = zone || "UTC";
    var options = { dateStyle: "medium", timeStyle: "medium", timeZone: zone };
    try {
      return new Intl.DateTimeFormat(LANG, options).format(new Date(iso)) + " (" + zone + ")";
    } catch (e) {
      options.timeZone = "UTC";
      return new Intl.DateTimeFormat(LANG, options).format(new Date(iso)) + " (UTC)";
    }
  }

  function setTime(el, iso) {
    el.setAttribute("datetime", iso || "");
    el.title = when(iso, el.dataset.tz);
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
    if (!link) { return t("no_link"); }
    return t("link", {
      role: choice("role", link.role), medium: choice("medium", link.medium), circuit: link.circuit_id
    });
  }

  function deviceText(devices) {
    var parts = [];
    DEVICE_STATES.forEach(function (s) {
      if (devices && devices[s]) { parts.push(t("devices." + s, { n: number(devices[s]) })); }
    });
    return parts.length ? parts.join(" · ") : t("none_probed");
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
        var text = t("marker", { code: site.code, name: site.name, state: label(site.state) });
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

  // A site's time zone, as its row (or headline) on this page gives it.
  function zoneOf(code) {
    var shown = code ? document.querySelector('[data-site="' + CSS.escape(code) + '"] [data-tz]') : null;
    return (shown && shown.dataset.tz) || body.dataset.tz || "UTC";
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
    time.dataset.tz = zoneOf(event.site ? event.site.code : "");
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
    what.appendChild(document.createTextNode(choice("object", event.object_type) + " " + event.object_key));
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
      if (dd) { dd.textContent = number(counts[s] || 0); }
    });
    var all = document.querySelector('[data-count="total"]');
    if (all) { all.textContent = number(total); }
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
    setLive("live", t("live"));
  }

  function markStale(why) {
    if (staleSince === null) { staleSince = new Date(); }
    var at = new Intl.DateTimeFormat(LANG, { timeStyle: "medium", timeZone: "UTC" }).format(staleSince);
    setLive("stale", t("stale", { time: at + " UTC", why: why }));
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
      markStale(t("stream_lost"));
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
      markStale(t("no_news"));
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
      t("link_in_use", { kind: marker.dataset.kind, link: marker.dataset.link });
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
