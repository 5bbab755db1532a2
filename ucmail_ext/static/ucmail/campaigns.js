// Campaigns screen: provider presets, "+"/"-" schedules, "test connection" and a
// confirmation before any form marked data-confirm (delete) is sent.
(function () {
  "use strict";
  var gettext = window.ucmailI18n.gettext;

  function setValue(form, name, value) {
    var field = form.elements.namedItem(name);
    if (field) { field.value = value; }
  }

  function applyPreset(form, button) {
    var d = button.dataset;
    setValue(form, "smtp_host", d.smtpHost);
    setValue(form, "smtp_port", d.smtpPort);
    setValue(form, "smtp_security", d.smtpSecurity);
    setValue(form, "imap_host", d.imapHost);
    setValue(form, "imap_port", d.imapPort);
    setValue(form, "imap_security", d.imapSecurity);
    // OAuth2 presets also pick the sign-in method and the provider named like its kind.
    setValue(form, "auth_method", d.authMethod || "password");
    var provider = form.elements.namedItem("oauth_provider");
    if (provider && d.oauthKind && provider.querySelector('option[value="' + d.oauthKind + '"]')) {
      provider.value = d.oauthKind;
    }
  }

  function addSchedule(rows, template) {
    var index = parseInt(rows.dataset.nextIndex || "0", 10);
    rows.dataset.nextIndex = String(index + 1);
    var html = template.innerHTML.split("__INDEX__").join(String(index));
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var row = holder.querySelector("tr");
    rows.appendChild(row);
    var first = row.querySelector("input");
    if (first) { first.focus(); }
  }

  function showStatus(protocol, status) {
    var box = document.getElementById(protocol + "-status");
    if (!box) { return; }
    var label = box.querySelector("[data-status-label]");
    var message = box.querySelector("[data-status-message]");
    var value = status ? status.status : "unknown";
    var words = { green: gettext("connected"), red: gettext("failed"), unknown: gettext("not checked") };
    box.dataset.status = value;
    label.className = "status-" + value;
    window.ucmail.text(label, protocol.toUpperCase() + ": " + (words[value] || value));
    window.ucmail.text(message, status ? status.message : "");
  }

  // The list's badges show the stored status; the server stores a check's outcome
  // only when it exercised the saved logins (data.stored), and then so does the row.
  function updateListRow(campaignId, data) {
    var row = document.querySelector('#campaign-list tr[data-campaign-id="' + campaignId + '"]');
    if (!row) { return; }
    ["smtp", "imap"].forEach(function (protocol) {
      var badge = row.querySelector('[data-list-status="' + protocol + '"]');
      var status = data[protocol];
      if (!badge || !status) { return; }
      badge.className = "status-" + status.status;
      badge.title = status.message;
      var names = { green: gettext("green"), red: gettext("red"), unknown: gettext("unknown") };
      window.ucmail.text(badge, names[status.status] || status.status);
    });
  }

  // Field errors of a check (a password to type again) go under their field, as on save.
  function showFieldErrors(form, fields) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-check-error]"), function (node) {
      node.parentNode.removeChild(node);
    });
    Object.keys(fields || {}).forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (!input || !input.parentNode || name === "smtp" || name === "imap") { return; }
      var old = document.getElementById("error-" + name);
      if (old) { old.parentNode.removeChild(old); }
      var span = document.createElement("span");
      span.className = "ucmail-error";
      span.id = "error-" + name;
      span.setAttribute("data-check-error", "");
      window.ucmail.text(span, fields[name]);
      input.parentNode.insertBefore(span, input.nextSibling);
    });
  }

  function testConnection(form, button) {
    var url = form.dataset.checkUrl;
    var original = button.textContent;
    button.disabled = true;
    window.ucmail.text(button, gettext("Testing…"));
    window.ucmail.request(url, { method: "POST", body: new FormData(form) })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        showStatus("smtp", data.smtp);
        showStatus("imap", data.imap);
        showFieldErrors(form, data.fields);
        if (data.stored && data.campaign_id) { updateListRow(data.campaign_id, data); }
        if (!data.smtp) {
          var problems = Object.keys(data.fields || {}).map(function (k) { return data.fields[k]; });
          showStatus("smtp", { status: "unknown", message: problems.join(" ") });
        }
      })
      .catch(function () {
        showStatus("smtp", { status: "unknown", message: gettext("The check could not be run.") });
      })
      .then(function () {
        button.disabled = false;
        window.ucmail.text(button, original);
      });
  }

  function confirmBeforeSubmit(event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.confirm) { return; }
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    // Without this field the server answers with its own confirmation page.
    if (!form.querySelector('input[name="confirm"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "confirm";
      input.value = "yes";
      form.appendChild(input);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("submit", confirmBeforeSubmit, true);
    var form = document.getElementById("campaign-form");
    if (!form) { return; }
    form.addEventListener("click", function (event) {
      var target = event.target;
      if (!(target instanceof Element)) { return; }
      var preset = target.closest("[data-preset]");
      if (preset) { applyPreset(form, preset); return; }
      var remove = target.closest("[data-schedule-remove]");
      if (remove) {
        var row = remove.closest("tr");
        if (row) { row.parentNode.removeChild(row); }
        return;
      }
      if (target.id === "schedule-add") {
        addSchedule(document.getElementById("schedule-rows"),
                    document.getElementById("schedule-row-template"));
        return;
      }
      if (target.id === "test-connection") { testConnection(form, target); }
    });
  });
})();
