// Live SVG charts: an element with data-chart-url is refilled with the HTML the
// server renders (JSON {"html": ...}), on the page's poll, paused while hidden.
// data-chart-live="false" stops refreshing (a list that is not sending).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var uc = window.ucmail;
    if (!uc) return;
    document.querySelectorAll("[data-chart-url]").forEach(function (box) {
      if (box.getAttribute("data-chart-live") === "false") return;
      var every = parseInt(box.getAttribute("data-chart-ms"), 10) || undefined;
      uc.poll(box.getAttribute("data-chart-url"), function (data) {
        if (typeof data.html !== "string") return;
        // Keep an opened data table open across refreshes.
        var open = {};
        box.querySelectorAll("details[open] table[id]").forEach(function (t) { open[t.id] = true; });
        box.innerHTML = data.html;
        Object.keys(open).forEach(function (id) {
          var table = document.getElementById(id);
          if (table && table.parentNode.tagName === "DETAILS") table.parentNode.open = true;
        });
      }, every);
    });
  });
})();
