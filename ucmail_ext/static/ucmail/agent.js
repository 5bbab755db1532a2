// Agent portal: live tray, heartbeat (presence + the supervisor's screen mirror),
// supervisor chat, template insertion. Everything shown is set with textContent.
(function () {
  "use strict";
  var ucmail = window.ucmail;
  var gettext = window.ucmailI18n.gettext, ngettext = window.ucmailI18n.ngettext;

  function on(el, event, handler) { if (el) el.addEventListener(event, handler); }
  function json(response) { return response.ok ? response.json() : null; }

  // ------------------------------------------------------------------ templates
  // One separator, one signature: a signature already in the editor is kept, or
  // replaced by the chosen one (up to the blank line before history or forwarded mail).
  var SEPARATOR = /(^|\n)-- \n/;
  function withSignature(text, block) {
    if (text.indexOf(block) !== -1) return text;
    var match = SEPARATOR.exec(text);
    if (!match) return text.replace(/\s*$/, "") + "\n\n" + block + "\n";
    var start = match.index + match[1].length;
    var end = text.indexOf("\n\n", start);
    return text.slice(0, start) + block + (end === -1 ? "" : text.slice(end));
  }

  var templateSelect = document.getElementById("composer-template");
  on(templateSelect, "change", function () {
    var id = templateSelect.value;
    if (!id) return;
    var url = templateSelect.dataset.templateUrl.replace(/\/0\.json$/, "/" + encodeURIComponent(id) + ".json");
    var params = "?campaign=" + encodeURIComponent(templateSelect.dataset.campaign);
    if (templateSelect.dataset.interaction) params += "&interaction=" + encodeURIComponent(templateSelect.dataset.interaction);
    ucmail.request(url + params).then(json).then(function (data) {
      if (!data) return;
      var body = document.getElementById("composer-body");
      var subject = document.getElementById("composer-subject");
      if (body) {
        body.value = data.signature ? withSignature(body.value, data.body) : data.body + body.value;
        body.dispatchEvent(new Event("ucmail:replaced"));  // editor.js shows the new text
      }
      if (subject && !subject.value && data.subject) subject.value = data.subject;
      templateSelect.value = "";
    }).catch(function () {});
  });

  var campaignPicker = document.getElementById("new-campaign");
  on(campaignPicker, "change", function () { campaignPicker.form.submit(); });

  // The portal page, or the new-interaction page (heartbeat only).
  var root = document.getElementById("ucmail-portal") || document.getElementById("ucmail-agent");
  if (!root) return;
  var openId = root.dataset.openId ? parseInt(root.dataset.openId, 10) : null;

  // ------------------------------------------------------------------ tray
  // Longest wait first (the server sorts); the wait ticks here every second and
  // takes the campaign's threshold colour; "New" marks what the agent has not opened.
  var tray = document.getElementById("ucmail-tray");
  var known = {};
  if (tray) Array.prototype.forEach.call(tray.children, function (li) { known[li.dataset.id] = true; });
  var firstLoad = true;

  function span(className, value) {
    var el = document.createElement("span");
    el.className = className;
    if (value !== undefined) ucmail.text(el, value);
    return el;
  }

  function trayItem(item) {
    var li = document.createElement("li");
    li.dataset.id = String(item.id);
    li.dataset.campaignId = String(item.campaign_id || "");
    li.dataset.waitingSince = item.waiting_since || "";
    li.dataset.warning = String(item.warning_seconds || 0);
    li.dataset.critical = String(item.critical_seconds || 0);
    var classes = ["tray-item"];
    if (item.awaiting_answer) classes.push("awaiting");
    if (item.id === openId) classes.push("open");
    li.className = classes.join(" ");
    var a = document.createElement("a");
    a.href = root.dataset.openUrl + "?open=" + encodeURIComponent(item.id);
    if (item.id === openId) a.setAttribute("aria-current", "true");
    var line = span("tray-line");
    var subject = span("subject");
    if (item["new"]) { subject.appendChild(span("tray-new", gettext("New"))); subject.appendChild(document.createTextNode(" ")); }
    subject.appendChild(document.createTextNode(item.subject || gettext("(no subject)")));
    line.appendChild(subject);
    if (item.waiting_since) {
      var wait = span("tray-wait");
      wait.title = gettext("Waiting since the customer's first unanswered message");
      line.appendChild(wait);
    }
    a.appendChild(line);
    a.appendChild(span("meta", (item.customer_name || item.customer_email) + " · " + item.campaign));
    if (item.transfer_note) a.appendChild(span("tray-transfer", item.transfer_note));
    li.appendChild(a);
    return li;
  }

  // The threshold colour and the h:mm:ss wait of every line, from its data attributes.
  function tick() {
    if (!tray) return;
    var now = Date.now();
    Array.prototype.forEach.call(tray.children, function (li) {
      var since = li.dataset.waitingSince ? Date.parse(li.dataset.waitingSince) : NaN;
      var wait = li.querySelector(".tray-wait");
      var level = "";
      if (!isNaN(since)) {
        var seconds = (now - since) / 1000;
        var warning = parseInt(li.dataset.warning, 10) || 0, critical = parseInt(li.dataset.critical, 10) || 0;
        if (critical && seconds >= critical) level = "critical";
        else if (warning && seconds >= warning) level = "warning";
        if (wait) ucmail.text(wait, ucmail.duration(seconds));
      }
      li.classList.toggle("threshold-warning", level === "warning");
      li.classList.toggle("threshold-critical", level === "critical");
    });
  }

  function renderCounts(counts) {
    var list = document.getElementById("tray-counts");
    if (!list || !counts) return;
    var fragment = document.createDocumentFragment();
    counts.forEach(function (c) {
      var li = document.createElement("li");
      li.dataset.campaignId = String(c.campaign_id);
      li.appendChild(span("name", c.name));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(span("count", c.total));
      if (c.waiting) li.appendChild(span("waiting", " · " + gettext("%(num)s waiting", { num: c.waiting })));
      fragment.appendChild(li);
    });
    list.replaceChildren(fragment);
  }

  function renderTray(data) {
    // Keyboard focus survives the refresh: the same line keeps it.
    var focusedLine = document.activeElement && tray.contains(document.activeElement) ?
      document.activeElement.closest("li") : null;
    var focusedId = focusedLine ? focusedLine.dataset.id : null;
    var fragment = document.createDocumentFragment();
    var seen = {}, arrived = [];
    data.items.forEach(function (item) {
      var key = String(item.id);
      fragment.appendChild(trayItem(item));
      if (!known[key]) arrived.push(item);
      seen[key] = true;
    });
    known = seen;
    tray.replaceChildren(fragment);
    if (focusedId) {
      var again = tray.querySelector('li[data-id="' + focusedId + '"] a');
      if (again) again.focus();
    }
    tick();
    if (arrived.length && !firstLoad) {
      ucmail.text(document.getElementById("tray-announce"), arrived.length === 1 ?
        gettext("New in your tray: %(subject)s", { subject: arrived[0].subject || gettext("(no subject)") }) :
        ngettext("%(num)s new interaction in your tray", "%(num)s new interactions in your tray", arrived.length));
    }
    firstLoad = false;
    renderCounts(data.counts);
    ucmail.text(document.getElementById("tray-count"), data.items.length);
    document.getElementById("tray-empty").hidden = data.items.length > 0;
    if (data.status) ucmail.text(document.getElementById("agent-status-label"), data.status.label);
  }
  if (tray) {
    tick();
    setInterval(tick, 1000);
    ucmail.poll(root.dataset.trayUrl, renderTray);
  }

  // ------------------------------------------------------------------ times
  // Message times in the agent's own time zone (the server writes UTC ISO stamps).
  var FORMAT = new Intl.DateTimeFormat(window.ucmailI18n.lang(), { dateStyle: "medium", timeStyle: "short" });
  Array.prototype.forEach.call(document.querySelectorAll("time.local-time[datetime]"), function (el) {
    var when = Date.parse(el.getAttribute("datetime"));
    if (!isNaN(when)) { ucmail.text(el, FORMAT.format(new Date(when))); el.title = el.getAttribute("datetime"); }
  });

  // ------------------------------------------------------------------ shortcuts
  // Gmail-like single keys, never while typing in a field; listed in #shortcuts-help.
  var ACTIONS = { r: "action-reply", a: "action-reply-all", f: "action-forward", c: "action-close" };
  var help = document.getElementById("shortcuts-help");
  Object.keys(ACTIONS).forEach(function (key) {
    var el = document.getElementById(ACTIONS[key]);
    if (el) el.setAttribute("aria-keyshortcuts", key);
  });

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]");
  }
  function trayLinks() { return tray ? Array.prototype.slice.call(tray.querySelectorAll("li > a")) : []; }
  function moveInTray(step) {
    var links = trayLinks();
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    if (at === -1) {
      var open = tray.querySelector("li.open > a");
      at = open ? links.indexOf(open) : (step > 0 ? -1 : links.length);
    }
    links[Math.max(0, Math.min(links.length - 1, at + step))].focus();
  }
  function openNote() {
    var note = document.getElementById("note");
    if (!note) return;
    note.open = true;
    var body = document.getElementById("note-body");
    if (body) body.focus();
  }
  function activate(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    if (id === "action-close") {
      var reason = document.getElementById("close-disposition");
      if (reason && reason.required && !reason.value) { reason.focus(); return true; }
    }
    el.click();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.metaKey) return;
    if (event.ctrlKey) {
      if (event.key === "Enter" && typing(event.target) && event.target.closest("#ucmail-composer")) {
        event.preventDefault();
        var send = document.getElementById("composer-send");
        if (send) send.click();
      }
      return;
    }
    if (event.key === "Escape" && typing(event.target) && !(help && help.open)) {
      event.target.blur();  // out of the field, so the single-key shortcuts work again
      return;
    }
    if (typing(event.target) || (help && help.open)) return;
    var key = event.key;
    if (key === "j" || key === "ArrowDown") {
      if (key === "ArrowDown" && !(tray && tray.contains(event.target))) return;
      event.preventDefault(); moveInTray(1);
    } else if (key === "k" || key === "ArrowUp") {
      if (key === "ArrowUp" && !(tray && tray.contains(event.target))) return;
      event.preventDefault(); moveInTray(-1);
    } else if (key === "?") {
      if (help && help.showModal) { event.preventDefault(); help.showModal(); }
    } else if (key === "/") {
      var search = document.querySelector(".agent-search input[type=search]");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (key === "n") {
      event.preventDefault(); openNote();
    } else if (ACTIONS[key]) {
      if (activate(ACTIONS[key])) event.preventDefault();
    }
  });

  // ------------------------------------------------------------------ chat
  var chat = document.getElementById("ucmail-chat");
  var chatList = document.getElementById("chat-messages");
  var shown = {};
  if (chatList) Array.prototype.forEach.call(chatList.children, function (li) { shown[li.dataset.id] = true; });

  function addChat(message) {
    if (shown[String(message.id)]) return false;
    shown[String(message.id)] = true;
    var li = document.createElement("li");
    li.className = message.direction;
    li.dataset.id = String(message.id);
    ucmail.text(li, message.body);
    chatList.appendChild(li);
    chatList.scrollTop = chatList.scrollHeight;
    return true;
  }

  function showUnread(messages) {
    if (!chat || !messages || !messages.length) return;  // stays unread until shown
    var upTo = 0, added = false;
    messages.forEach(function (m) { added = addChat(m) || added; upTo = Math.max(upTo, m.id); });
    if (added) {
      chat.open = true;
      chat.classList.add("unread");
      document.getElementById("chat-unread").hidden = false;
    }
    ucmail.request(root.dataset.chatReadUrl, { method: "POST", json: { up_to: upTo } }).catch(function () {});
  }
  on(chat, "toggle", function () {
    if (!chat.open) return;
    chat.classList.remove("unread");
    document.getElementById("chat-unread").hidden = true;
  });

  on(document.getElementById("chat-form"), "submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("chat-body");
    var body = input.value.trim();
    if (!body) return;
    ucmail.request(root.dataset.chatUrl, { method: "POST", json: { body: body } }).then(json).then(function (data) {
      if (data && data.message) { addChat(data.message); input.value = ""; }
    }).catch(function () {});
  });

  // ------------------------------------------------------------------ heartbeat
  function field(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  function snapshot() {
    var recipients = [field("composer-to"), field("composer-cc")].filter(Boolean).join(", ");
    return {
      open_interaction_id: openId,
      view: root.dataset.view,
      draft_subject: field("composer-subject"),
      draft_body: field("composer-body"),
      recipients: recipients
    };
  }
  function beat() {
    ucmail.request(root.dataset.heartbeatUrl, { method: "POST", json: { screen: snapshot() } })
      .then(json)
      .then(function (data) {
        if (!data) return;
        if (data.logged_out) { window.location.reload(); return; }
        showUnread(data.chat);
        var label = document.getElementById("agent-status-label");
        if (data.status && label) ucmail.text(label, data.status.label);
      })
      .catch(function () {});
  }
  setInterval(beat, parseInt(root.dataset.heartbeatMs, 10) || 5000);
  beat();

  // The supervisor's "monitor screen" follows the draft as it is typed, not only
  // on the next periodic beat.
  var typingTimer = null;
  function soon() {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(beat, 600);
  }
  ["composer-to", "composer-cc", "composer-subject", "composer-body"].forEach(function (id) {
    on(document.getElementById(id), "input", soon);
  });
})();
