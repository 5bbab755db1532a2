// The open conversation, live: who else is viewing or typing, messages that arrived
// after the editor opened, and the draft saved on the server as the agent types.
// Reads the composer's fields by id (the body through composerBody(), so a rich-text
// editor that keeps #composer-body's value in sync needs no change here).
(function () {
  "use strict";
  var root = document.getElementById("ucmail-conversation");
  if (!root || !window.ucmail) return;
  var gettext = window.ucmailI18n.gettext, ngettext = window.ucmailI18n.ngettext;
  var composer = document.getElementById("ucmail-composer");
  var POLL_MS = parseInt(ucmail.meta("ucmail-live-poll-ms"), 10) || 2000;
  var SAVE_AFTER_MS = 1000;
  var TYPING_MS = 3000;
  var lastTyped = 0;
  var submitting = false;

  function field(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  function composerBody() { return field("composer-body"); }
  function seenId() { return parseInt(field("composer-seen"), 10) || 0; }
  function clock(iso) {
    var d = iso ? new Date(iso) : new Date();
    return d.toLocaleTimeString(window.ucmailI18n.lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // ------------------------------------------------------------------ viewers
  var viewers = document.getElementById("desk-viewers");
  var newerLive = document.getElementById("newer-live");
  function showViewers(list) {
    if (!viewers) return;
    if (!list.length) { viewers.hidden = true; viewers.textContent = ""; return; }
    var typing = list.filter(function (v) { return v.typing; }).map(function (v) { return v.name; });
    var looking = list.filter(function (v) { return !v.typing; }).map(function (v) { return v.name; });
    var parts = [];
    if (typing.length) {
      parts.push(ngettext("%(names)s is typing…", "%(names)s are typing…", typing.length,
        { names: typing.join(", ") }));
    }
    if (looking.length) {
      parts.push(ngettext("%(names)s is also viewing", "%(names)s are also viewing", looking.length,
        { names: looking.join(", ") }));
    }
    viewers.textContent = parts.join(" · ");
    viewers.classList.toggle("typing", typing.length > 0);
    viewers.hidden = false;
  }
  function showNewer(list) {
    if (!newerLive) return;
    if (!list.length) { newerLive.hidden = true; newerLive.textContent = ""; return; }
    newerLive.textContent = "";
    var head = document.createElement("strong");
    head.textContent = list.length === 1 ? gettext("A new message arrived while you were writing:") :
      ngettext("%(num)s new message arrived while you were writing:",
        "%(num)s new messages arrived while you were writing:", list.length);
    newerLive.appendChild(head);
    list.forEach(function (m) {
      var p = document.createElement("span");
      p.className = "excerpt";
      p.textContent = m.from + ": " + m.excerpt;
      newerLive.appendChild(p);
    });
    newerLive.hidden = false;
  }
  function tick() {
    if (document.hidden) { setTimeout(tick, POLL_MS); return; }
    var payload = { typing: Date.now() - lastTyped < TYPING_MS };
    if (composer) payload.seen_message_id = seenId();
    ucmail.request(root.dataset.liveUrl, { method: "POST", json: payload })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        showViewers(data.viewers || []);
        if (composer) showNewer(data.newer || []);
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, POLL_MS); });
  }
  tick();

  // ------------------------------------------------------------------ drafts
  if (!composer) return;
  var status = document.getElementById("draft-status");
  var timer = null;
  function values() {
    var source = composer.querySelector("input[name=source_message_id]");
    return {
      kind: composer.querySelector("input[name=kind]").value,
      to: field("composer-to"),
      cc: field("composer-cc"),
      bcc: field("composer-bcc"),
      subject: field("composer-subject"),
      body: composerBody(),
      body_html: field("composer-body-html"),
      source_message_id: source ? parseInt(source.value, 10) : null,
      seen_message_id: seenId()
    };
  }
  function save(keepalive) {
    clearTimeout(timer);
    timer = null;
    if (submitting) return;
    if (status) status.textContent = gettext("Saving draft…");
    ucmail.request(composer.dataset.draftUrl, { method: "POST", json: values(), keepalive: !!keepalive })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (result) {
        if (!status) return;
        var retry = gettext("try again");  // on its own: pybabel skips a call nested in another
        status.textContent = result.ok ? gettext("Draft saved %(time)s", { time: clock(result.data.saved_at) })
          : gettext("Draft not saved: %(error)s", { error: result.data.error || retry });
        status.dataset.savedAt = result.ok ? result.data.saved_at : "";
      })
      .catch(function () { if (status) status.textContent = gettext("Draft not saved (offline?)"); });
  }
  function saveSoon() {
    clearTimeout(timer);
    timer = setTimeout(save, SAVE_AFTER_MS);
  }
  composer.addEventListener("input", function () {
    lastTyped = Date.now();
    saveSoon();
  });
  // A template is set from code once its text has been fetched: no input event
  // follows, and the save the select's own change started may have gone without it.
  var body = document.getElementById("composer-body");
  if (body) body.addEventListener("ucmail:replaced", saveSoon);
  composer.addEventListener("submit", function () { submitting = true; clearTimeout(timer); });
  window.addEventListener("pagehide", function () { if (timer) save(true); });
})();
