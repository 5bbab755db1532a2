// Shared helpers for ucmail pages: CSRF-aware fetch and live polling that pauses
// while the tab is hidden (no websockets, works behind any gunicorn worker).
(function () {
  "use strict";
  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }
  function request(url, options) {
    options = options || {};
    options.headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      options.headers["X-CSRFToken"] = meta("ucmail-csrf-token");
      if (options.json !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(options.json);
      }
    }
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { window.location.reload(); throw new Error("logged out"); }
      return response;
    });
  }
  function poll(url, onData, intervalMs) {
    intervalMs = intervalMs || parseInt(meta("ucmail-live-poll-ms"), 10) || 2000;
    var timer = null, stopped = false;
    function tick() {
      if (stopped) return;
      if (document.hidden) { timer = setTimeout(tick, intervalMs); return; }
      request(typeof url === "function" ? url() : url)
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) onData(data); })
        .catch(function () {})
        .then(function () { if (!stopped) timer = setTimeout(tick, intervalMs); });
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !stopped) { clearTimeout(timer); tick(); }
    });
    tick();
    return { stop: function () { stopped = true; clearTimeout(timer); }, now: function () { clearTimeout(timer); tick(); } };
  }
  function text(el, value) { el.textContent = value == null ? "" : String(value); }
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
  }
  window.ucmail = { request: request, poll: poll, text: text, duration: duration, meta: meta };
})();
