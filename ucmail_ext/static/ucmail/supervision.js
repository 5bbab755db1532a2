// Supervision pages: the live dashboard, the spy view and the screen mirror.
// Everything shown comes from JSON and is written with textContent, never as HTML:
// subjects, senders and file names are the customers' words.
(function () {
  "use strict";
  var uc = window.ucmail;
  var gettext = window.ucmailI18n.gettext;
  // A message's stored status as people read it (the value itself stays English).
  function statusName(status) {
    var names = {
      received: gettext("received"), queued: gettext("queued"), sending: gettext("sending"),
      sent: gettext("sent"), deferred: gettext("deferred"), failed: gettext("failed")
    };
    return names[status] || status;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function levelClass(level) { return level ? "threshold-" + level : ""; }
  function orDash(value, format) {
    return value === null || value === undefined ? "—" : (format ? format(value) : String(value));
  }
  // A stored time (UTC, ISO, maybe without its zone) in the browser's zone and ucmail's language.
  var TIME = new Intl.DateTimeFormat(window.ucmailI18n.lang(), { dateStyle: "medium", timeStyle: "medium" });
  function when(iso) {
    var moment = new Date(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z");
    return isNaN(moment.getTime()) ? iso : TIME.format(moment);
  }
  var ONE_DECIMAL = new Intl.NumberFormat(window.ucmailI18n.lang(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function percent(value) { return ONE_DECIMAL.format(Number(value)) + " %"; }
  function ratingText(ratings) {
    if (!ratings) return "—";
    var count = ratings.count !== undefined ? ratings.count : ratings.total;
    var average = ratings.average !== undefined ? ratings.average : ratings.avg;
    if (!count) return "—";
    if (average === null || average === undefined) return String(count);
    return gettext("%(count)s (avg %(average)s)", { count: count, average: ONE_DECIMAL.format(Number(average)) });
  }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = el("td", c.className || "");
      if (c.node) td.appendChild(c.node); else td.textContent = c.text === undefined ? "" : String(c.text);
      tr.appendChild(td);
    });
    return tr;
  }
  function emptyRow(table, columns, text) {
    var tr = document.createElement("tr");
    var td = el("td", "ucmail-empty", text);
    td.colSpan = columns;
    tr.appendChild(td);
    table.appendChild(tr);
  }

  // ---- dashboard -------------------------------------------------------------
  function dashboard(root) {
    var feedUrl = root.getAttribute("data-feed-url");
    var spyTemplate = root.getAttribute("data-agent-base");
    var agentBase = spyTemplate.slice(0, -"/spy".length);
    var campaignsBody = root.querySelector("#sv-campaigns tbody");
    var agentsBody = root.querySelector("#sv-agents tbody");
    var waitingBody = root.querySelector("#sv-waiting tbody");
    var waitingTotal = root.querySelector("#sv-waiting-total");
    var panel = root.querySelector("#sv-agent-panel");
    var panelMessage = root.querySelector("#sv-panel-message");
    var pauseButton = root.querySelector("#sv-action-pause");
    var chatLog = root.querySelector("#sv-chat-log");
    var chatForm = root.querySelector("#sv-chat-form");
    var chatBody = root.querySelector("#sv-chat-body");
    var agents = {}, selected = null, chatPoll = null, lastChatId = 0;

    function agentUrl(id, action) {
      return agentBase.replace("__AGENT__", encodeURIComponent(id)) + "/" + action;
    }

    function renderCampaigns(list) {
      clear(campaignsBody);
      if (!list.length) { emptyRow(campaignsBody, 8, gettext("No campaigns selected.")); return; }
      list.forEach(function (c) {
        var tr = row([
          { text: c.name },
          { text: c.queued },
          { text: c.in_progress },
          { text: c.answered_today },
          { text: orDash(c.service_level_percent, percent) },
          { text: orDash(c.avg_wait_seconds, uc.duration), className: levelClass(c.avg_wait_level) },
          { text: orDash(c.oldest_wait_seconds, uc.duration), className: levelClass(c.oldest_wait_level) },
          { text: ratingText(c.ratings) }
        ]);
        tr.setAttribute("data-campaign-id", c.campaign_id);
        var reasons = Object.keys(c.dispositions || {}).filter(function (k) { return k; }).sort();
        if (reasons.length) {
          // Today's closes per close reason, under the campaign's name.
          var closes = el("small", "sv-dispositions", gettext("Closed today: %(reasons)s", {
            reasons: reasons.map(function (k) { return k + " " + c.dispositions[k]; }).join(" · ")
          }));
          closes.style.display = "block";
          tr.firstChild.appendChild(closes);
        }
        if (c.mailbox_error) {
          // OAuth2 grant gone: the mailbox is not read until an admin reconnects it.
          var badge = el("span", "badge status-red", gettext("reconnect the account"));
          badge.title = c.mailbox_error;
          badge.setAttribute("data-reconnect", "");
          tr.firstChild.appendChild(document.createTextNode(" "));
          tr.firstChild.appendChild(badge);
        }
        campaignsBody.appendChild(tr);
      });
    }

    function iconNode(a) {
      var span = el("span", "sv-icon-" + a.icon);
      span.title = a.status_label || a.status;
      span.appendChild(el("span", "sv-dot"));
      if (a.on_break) span.appendChild(el("span", "sv-mark sv-mark-break", "☕ " + (a.break_reason || gettext("break"))));
      if (a.busy) span.appendChild(el("span", "sv-mark sv-mark-busy", "✉"));
      return span;
    }

    function renderAgents(list) {
      clear(agentsBody);
      agents = {};
      if (!list.length) { emptyRow(agentsBody, 7, gettext("No agents in these campaigns.")); return; }
      list.forEach(function (a) {
        agents[a.agent_id] = a;
        var channel = a.channels.length ? el("span", "badge", a.channels.join(" ").replace("email", gettext("Email"))) : null;
        var tr = row([
          { node: iconNode(a) },
          channel ? { node: channel } : { text: "" },
          { text: a.status_label || a.status, className: "sv-status" },
          { text: a.name, className: "sv-name" },
          { text: a.completed_in + " / " + a.completed_out },
          { text: a.active, className: "sv-active" },
          { text: uc.duration(a.seconds_in_status) }
        ]);
        tr.setAttribute("data-agent-id", a.agent_id);
        tr.tabIndex = 0;
        if (a.agent_id === selected) tr.className = "selected";
        tr.addEventListener("click", function () { openPanel(a.agent_id); });
        tr.addEventListener("keydown", function (event) { if (event.key === "Enter") openPanel(a.agent_id); });
        agentsBody.appendChild(tr);
      });
      if (selected) updatePanel();
    }

    function renderWaiting(list, total) {
      clear(waitingBody);
      uc.text(waitingTotal, total);
      if (!list.length) { emptyRow(waitingBody, 3, gettext("Nobody is waiting.")); return; }
      list.forEach(function (w) {
        var tr = row([
          { text: w.customer_email },
          { text: w.campaign_name },
          { text: uc.duration(w.seconds_on_hold), className: levelClass(w.level) }
        ]);
        tr.setAttribute("data-interaction-id", w.interaction_id);
        waitingBody.appendChild(tr);
      });
    }

    function updatePanel() {
      var a = agents[selected];
      if (!a) return;
      uc.text(root.querySelector("#sv-panel-name"), a.name);
      uc.text(root.querySelector("#sv-panel-status"), a.status_label || a.status);
      pauseButton.textContent = a.paused ? gettext("Resume") : gettext("Pause");
      pauseButton.setAttribute("data-paused", a.paused ? "1" : "0");
    }

    function renderChat(messages) {
      messages.forEach(function (m) {
        if (m.id <= lastChatId) return;
        lastChatId = m.id;
        var item = el("li", m.direction, m.body);
        item.setAttribute("data-chat-id", m.id);
        item.title = m.direction === "to_agent" ? gettext("You") : gettext("Agent");
        chatLog.appendChild(item);
        chatLog.scrollTop = chatLog.scrollHeight;
      });
    }

    function openPanel(id) {
      selected = id;
      panel.hidden = false;
      uc.text(panelMessage, "");
      ["spy", "screen", "info"].forEach(function (action) {
        var link = root.querySelector("#sv-action-" + action);
        if (link) link.href = agentUrl(id, action);
      });
      Array.prototype.forEach.call(agentsBody.querySelectorAll("tr"), function (tr) {
        tr.className = tr.getAttribute("data-agent-id") === id ? "selected" : "";
      });
      updatePanel();
      clear(chatLog);
      lastChatId = 0;
      if (chatPoll) chatPoll.stop();
      chatPoll = uc.poll(function () { return agentUrl(id, "chat") + "?after=" + lastChatId; },
        function (data) { if (selected === id) renderChat(data.messages || []); });
    }

    function act(action, json, done) {
      var id = selected;
      uc.request(agentUrl(id, action), { method: "POST", json: json })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (result) {
          if (!result.ok) { uc.text(panelMessage, result.data.error || gettext("That did not work.")); return; }
          done(result.data);
          feed.now();
        })
        .catch(function () { uc.text(panelMessage, gettext("The server did not answer; try again.")); });
    }

    pauseButton.addEventListener("click", function () {
      var pause = pauseButton.getAttribute("data-paused") !== "1";
      act("pause", { paused: pause }, function (data) {
        uc.text(panelMessage, data.paused ? gettext("Agent paused: no new interactions.") : gettext("Agent resumed."));
      });
    });
    root.querySelector("#sv-action-logout").addEventListener("click", function () {
      if (!window.confirm(gettext("Log this agent out of the portal?"))) return;
      act("logout", {}, function () { uc.text(panelMessage, gettext("Agent logged out.")); });
    });
    root.querySelector("#sv-panel-close").addEventListener("click", function () {
      panel.hidden = true;
      selected = null;
      if (chatPoll) { chatPoll.stop(); chatPoll = null; }
    });
    chatForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = chatBody.value;
      if (!body.trim() || !selected) return;
      act("chat", { body: body }, function (data) {
        chatBody.value = "";
        if (data.message) renderChat([data.message]);
      });
    });

    var feed = uc.poll(feedUrl, function (data) {
      renderCampaigns(data.campaigns || []);
      renderAgents(data.agents || []);
      renderWaiting(data.waiting || [], data.waiting_total || 0);
    });
  }

  // ---- spy -------------------------------------------------------------------
  function spyPage(root) {
    var container = root.querySelector("#sv-spy-interactions");
    var seen = {};

    function messageNode(m) {
      var box = el("article", "sv-message " + m.direction);
      box.setAttribute("data-message-id", m.id);
      var who = m.from_name ? m.from_name + " <" + m.from_addr + ">" : m.from_addr;
      var at = when(m.at);
      var meta = m.direction === "in"
        ? gettext("Received %(at)s · from %(from)s · to %(to)s", { at: at, from: who, to: m.to_addrs })
        : gettext("Sent (%(status)s) %(at)s · from %(from)s · to %(to)s",
          { status: statusName(m.status), at: at, from: who, to: m.to_addrs });
      box.appendChild(el("div", "sv-meta", meta));
      box.appendChild(el("strong", "sv-subject", m.subject));
      box.appendChild(el("pre", "", m.text));
      if (m.attachments.length) box.appendChild(el("div", "sv-meta", gettext("Attachments: %(names)s", { names: m.attachments.join(", ") })));
      return box;
    }

    function interactionNode(i) {
      var card = el("section", "ucmail-card sv-spy-interaction");
      card.id = "sv-spy-" + i.id;
      card.appendChild(el("h2", "", i.subject || gettext("(no subject)")));
      card.appendChild(el("div", "sv-meta", (i.customer_name ? i.customer_name + " · " : "") + i.customer_email + " · " + i.campaign_name));
      card.appendChild(el("div", "sv-messages"));
      return card;
    }

    uc.poll(root.getAttribute("data-spy-url"), function (data) {
      uc.text(root.querySelector("#sv-spy-status"), data.status);
      var present = {};
      data.interactions.forEach(function (i) {
        present[i.id] = true;
        var card = document.getElementById("sv-spy-" + i.id);
        if (!card) { card = interactionNode(i); container.appendChild(card); }
        var list = card.querySelector(".sv-messages");
        i.messages.forEach(function (m) {
          if (seen[m.id]) return;
          seen[m.id] = true;
          list.appendChild(messageNode(m));
        });
      });
      Array.prototype.forEach.call(container.querySelectorAll(".sv-spy-interaction"), function (card) {
        if (!present[card.id.slice("sv-spy-".length)]) card.parentNode.removeChild(card);
      });
      var empty = container.querySelector(".ucmail-empty");
      if (data.interactions.length && empty) empty.parentNode.removeChild(empty);
      if (!data.interactions.length && !empty) container.appendChild(el("p", "ucmail-empty", gettext("No active interactions.")));
    });
  }

  // ---- monitor screen ------------------------------------------------------------
  function screenPage(root) {
    function set(id, value) { uc.text(root.querySelector(id), value); }
    uc.poll(root.getAttribute("data-screen-url"), function (s) {
      set("#sv-screen-status", s.status);
      set("#sv-screen-view", s.view);
      set("#sv-screen-open", s.open_interaction_id ? "#" + s.open_interaction_id + " " + s.open_subject + " (" + s.open_customer_email + ")" : "");
      set("#sv-screen-recipients", s.recipients);
      set("#sv-screen-subject", s.draft_subject);
      set("#sv-screen-body", s.draft_body);
      set("#sv-screen-updated", s.seconds_ago === null
        ? gettext("Nothing received from the portal yet.")
        : gettext("Updated %(duration)s ago.", { duration: uc.duration(s.seconds_ago) }));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("ucmail-supervision");
    if (!root) return;
    var page = root.getAttribute("data-page");
    if (page === "dashboard") dashboard(root);
    else if (page === "spy") spyPage(root);
    else if (page === "screen") screenPage(root);
  });
})();
