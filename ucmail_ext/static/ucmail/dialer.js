// Dialer screens: schedule rows, confirmations, the live progress graph and the
// monitoring table (polling JSON every UCMAIL_LIVE_POLL_MS, paused while hidden).
(function () {
  "use strict";
  var uc = window.ucmail;
  var gettext = window.ucmailI18n.gettext;
  // Stored states as people read them (the values stay English for the page's logic).
  var STATE_NAMES = {
    stopped: gettext("stopped"), running: gettext("running"), paused: gettext("paused"),
    inactive: gettext("inactive"), active: gettext("active"), done: gettext("done")
  };
  var ONE_DECIMAL = new Intl.NumberFormat(window.ucmailI18n.lang(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function shown(key, data) {
    if (key === "percent") return ONE_DECIMAL.format(Number(data.percent));
    if (key === "state" || key === "dialer_state") return STATE_NAMES[data[key]] || data[key];
    return data[key];
  }

  function setFields(root, data) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var key = el.getAttribute("data-field");
      if (key === "bar") { el.style.width = Math.max(0, Math.min(100, data.percent)) + "%"; return; }
      if (!(key in data)) return;
      uc.text(el, shown(key, data));
    });
    var bar = root.querySelector('[role="progressbar"]');
    if (bar) bar.setAttribute("aria-valuenow", data.percent);
  }

  function watchProgress() {
    var byUrl = {};
    document.querySelectorAll("[data-list-progress]").forEach(function (el) {
      var url = el.getAttribute("data-list-progress");
      (byUrl[url] = byUrl[url] || []).push(el);
    });
    Object.keys(byUrl).forEach(function (url) {
      uc.poll(url, function (data) {
        byUrl[url].forEach(function (el) {
          var scope = el.closest("tr[data-list-id]") || el;
          setFields(scope, data);
          if (scope !== el) setFields(el, data);
        });
        var reason = document.querySelector('[data-field="pause_reason"]');
        if (reason) uc.text(reason, data.dialer_state === "paused" ? data.pause_reason : "");
      });
    });
  }

  function monitorCells(row) {
    var active = gettext("Active"), inactive = gettext("Inactive");
    return [
      row.campaign_name,
      null,
      row.state === "active" ? active : inactive,
      row.dialer_state === "running" ? active + (row.pace_note ? " · " + row.pace_note : "") : inactive,
      row.on_schedule ? active : inactive,
      row.processed, row.not_processed, row.sent, row.failed, row.interrupted, row.seen, row.clicked,
      row.rejected, row.spam, row.unsubscribed
    ];
  }

  function watchMonitor() {
    var table = document.getElementById("dialer-monitor");
    if (!table) return;
    var body = table.querySelector("tbody");
    var listUrl = table.getAttribute("data-list-url");
    uc.poll(table.getAttribute("data-monitor-url"), function (data) {
      var rows = data.rows || [];
      var fresh = document.createDocumentFragment();
      rows.forEach(function (row) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-list-id", row.list_id);
        monitorCells(row).forEach(function (value, index) {
          var td = document.createElement("td");
          if (index === 1) {
            var a = document.createElement("a");
            a.href = listUrl.replace(/0$/, String(row.list_id));
            uc.text(a, row.name);
            td.appendChild(a);
          } else {
            uc.text(td, value);
          }
          if (index >= 5) td.className = "num";
          tr.appendChild(td);
        });
        fresh.appendChild(tr);
      });
      body.replaceChildren(fresh);
      var empty = document.getElementById("monitor-empty");
      if (empty) empty.hidden = rows.length > 0;
    });
  }

  function schedules() {
    var rows = document.getElementById("schedule-rows");
    var template = document.getElementById("schedule-row-template");
    var add = document.getElementById("schedule-add");
    if (!rows || !template || !add) return;
    add.addEventListener("click", function () {
      var index = parseInt(rows.getAttribute("data-next-index"), 10) || 0;
      rows.setAttribute("data-next-index", String(index + 1));
      rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__INDEX__/g, String(index)));
    });
    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-schedule-remove]");
      if (button) button.closest("tr").remove();
    });
  }

  function eventFields() {
    var box = document.getElementById("event_enabled");
    var fields = document.getElementById("event-fields");
    if (!box || !fields) return;
    function sync() { fields.hidden = !box.checked; }
    box.addEventListener("change", sync);
    sync();
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    schedules();
    eventFields();
    confirmations();
    watchProgress();
    watchMonitor();
  });
})();
