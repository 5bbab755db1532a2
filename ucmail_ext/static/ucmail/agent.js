// Agent portal: live tray, heartbeat (presence + the supervisor's screen mirror),
// supervisor chat, template insertion. Everything shown is set with textContent.
(function () {
  "use strict";
  var ucmail = window.ucmail;

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
      if (body) body.value = data.signature ? withSignature(body.value, data.body) : data.body + body.value;
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
  var tray = document.getElementById("ucmail-tray");
  var known = {};
  if (tray) Array.prototype.forEach.call(tray.children, function (li) { known[li.dataset.id] = true; });

  function trayItem(item, isNew) {
    var li = document.createElement("li");
    li.dataset.id = String(item.id);
    var classes = [];
    if (item.awaiting_answer) classes.push("awaiting");
    if (item.id === openId) classes.push("open");
    if (isNew) classes.push("new");
    li.className = classes.join(" ");
    var a = document.createElement("a");
    a.href = root.dataset.openUrl + "?open=" + encodeURIComponent(item.id);
    var subject = document.createElement("span");
    subject.className = "subject";
    ucmail.text(subject, item.subject || "(no subject)");
    var meta = document.createElement("span");
    meta.className = "meta";
    ucmail.text(meta, (item.customer_name || item.customer_email) + " · " + item.campaign);
    a.appendChild(subject);
    a.appendChild(meta);
    li.appendChild(a);
    return li;
  }

  function renderTray(data) {
    var fragment = document.createDocumentFragment();
    var seen = {};
    data.items.forEach(function (item) {
      var key = String(item.id);
      fragment.appendChild(trayItem(item, !known[key]));
      seen[key] = true;
    });
    known = seen;
    tray.replaceChildren(fragment);
    ucmail.text(document.getElementById("tray-count"), data.items.length);
    document.getElementById("tray-empty").hidden = data.items.length > 0;
    if (data.status) ucmail.text(document.getElementById("agent-status-label"), data.status.label);
  }
  if (tray) ucmail.poll(root.dataset.trayUrl, renderTray);

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
