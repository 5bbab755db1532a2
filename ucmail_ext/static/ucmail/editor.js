// The reply editor: bold, italic, lists, links and pasted images on a contenteditable
// area, with the browser's own editing commands (document.execCommand) — a few
// kilobytes, no build step. It enhances #composer-body: the textarea stays in the form,
// hidden and kept in sync as plain text (drafts, the supervisor's mirror, collision
// checks and a browser without JavaScript all keep using it), and the HTML goes in
// "body_html". The server sanitizes that HTML like inbound mail and makes the text part.
(function () {
  "use strict";
  var textarea = document.getElementById("composer-body");
  var form = document.getElementById("ucmail-composer");
  if (!textarea || !form || !document.execCommand) return;
  var gettext = window.ucmailI18n.gettext;

  var COMMANDS = [
    { command: "bold", label: gettext("Bold"), icon: "bold", keys: "Control+B", state: true },
    { command: "italic", label: gettext("Italic"), icon: "italic", keys: "Control+I", state: true },
    { command: "insertUnorderedList", label: gettext("Bulleted list"), icon: "list", state: true },
    { command: "insertOrderedList", label: gettext("Numbered list"), icon: "list-ordered", state: true },
    { command: "createLink", label: gettext("Link"), icon: "link", keys: "Control+K" }
  ];
  var spriteHolder = document.querySelector("[data-icon-sprite]");
  var sprite = spriteHolder ? spriteHolder.dataset.iconSprite : "";

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  // Plain text (a signature, a template, a restored draft) as the editor's lines.
  function textToHtml(text) {
    return text.replace(/\r\n?/g, "\n").split("\n").map(function (line) {
      return "<div>" + (line ? escapeHtml(line) : "<br>") + "</div>";
    }).join("");
  }

  function icon(name) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", sprite + "#i-" + name);
    svg.appendChild(use);
    return svg;
  }

  // ------------------------------------------------------------------ build
  var label = form.querySelector('label[for="composer-body"]');
  if (label && !label.id) label.id = "composer-body-label";
  var toolbar = document.createElement("div");
  toolbar.className = "rich-toolbar";
  toolbar.setAttribute("role", "toolbar");
  toolbar.setAttribute("aria-label", gettext("Formatting"));
  toolbar.setAttribute("aria-controls", "composer-editor");
  var editor = document.createElement("div");
  editor.id = "composer-editor";
  editor.className = "rich-editor";
  editor.contentEditable = "true";
  editor.setAttribute("role", "textbox");
  editor.setAttribute("aria-multiline", "true");
  if (label) editor.setAttribute("aria-labelledby", label.id);
  else editor.setAttribute("aria-label", gettext("Message"));
  editor.spellcheck = true;

  var html = document.createElement("input");
  html.type = "hidden";
  html.name = "body_html";
  html.id = "composer-body-html";
  var restored = document.getElementById("composer-restored-html");
  editor.innerHTML = restored && restored.value ? restored.value : textToHtml(textarea.value);

  var buttons = COMMANDS.map(function (spec) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "rich-" + spec.icon;
    button.setAttribute("aria-label", spec.label);
    button.title = spec.label + (spec.keys ? " (" + spec.keys.replace("Control", "Ctrl") + ")" : "");
    if (spec.keys) button.setAttribute("aria-keyshortcuts", spec.keys);
    if (spec.state) button.setAttribute("aria-pressed", "false");
    button.appendChild(icon(spec.icon));
    // mousedown would move the focus, and the selection with it, out of the editor.
    button.addEventListener("mousedown", function (event) { event.preventDefault(); });
    button.addEventListener("click", function () { run(spec.command); });
    toolbar.appendChild(button);
    return { spec: spec, button: button };
  });

  textarea.hidden = true;
  textarea.parentNode.insertBefore(toolbar, textarea);
  textarea.parentNode.insertBefore(editor, textarea);
  form.appendChild(html);
  try { document.execCommand("defaultParagraphSeparator", false, "div"); } catch (e) { /* older engines */ }

  // ------------------------------------------------------------------ sync
  function sync() {
    textarea.value = editor.innerText.replace(/\n$/, "");
    html.value = editor.innerHTML;
  }
  function refreshState() {
    buttons.forEach(function (b) {
      if (!b.spec.state) return;
      var on = false;
      try { on = document.queryCommandState(b.spec.command); } catch (e) { on = false; }
      b.button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  function run(command) {
    editor.focus();
    if (command === "createLink") {
      var url = window.prompt(gettext("Link address (https://…, mailto:…)"), "https://");
      if (!url || url === "https://") return;
      if (!/^(https?:|mailto:)/i.test(url)) url = "https://" + url;
      if (window.getSelection().isCollapsed) {
        document.execCommand("insertHTML", false, '<a href="' + escapeHtml(url).replace(/"/g, "&quot;") + '">' + escapeHtml(url) + "</a>");
      } else {
        document.execCommand("createLink", false, url);
      }
    } else {
      document.execCommand(command, false, null);
    }
    sync();
    refreshState();
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  }

  editor.addEventListener("input", sync);
  editor.addEventListener("keyup", refreshState);
  editor.addEventListener("mouseup", refreshState);
  editor.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      run("createLink");
    }
  });
  // Pasted images travel inline as data: URLs; the server turns each into a cid: part.
  editor.addEventListener("paste", function (event) {
    var items = event.clipboardData ? Array.prototype.slice.call(event.clipboardData.items || []) : [];
    var images = items.filter(function (item) { return item.kind === "file" && /^image\/(png|gif|jpeg|webp)$/.test(item.type); });
    if (!images.length) return;
    event.preventDefault();
    images.forEach(function (item) {
      var reader = new FileReader();
      reader.onload = function () {
        editor.focus();
        document.execCommand("insertImage", false, reader.result);
        sync();
        editor.dispatchEvent(new Event("input", { bubbles: true }));
      };
      reader.readAsDataURL(item.getAsFile());
    });
  });
  // agent.js replaced the text (a template): show it.
  textarea.addEventListener("ucmail:replaced", function () { editor.innerHTML = textToHtml(textarea.value); sync(); });
  form.addEventListener("submit", sync);
  html.value = editor.innerHTML;  // the textarea keeps its text exactly until the agent types
})();
