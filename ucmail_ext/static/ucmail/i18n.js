// Translations for ucmail's browser modules. The page carries the current language's
// "ucmail_js" catalog as JSON (base.html); modules take the functions with
//   var gettext = window.ucmailI18n.gettext, ngettext = window.ucmailI18n.ngettext;
// and call gettext("Saved") / ngettext("%(num)s record", "%(num)s records", n)
// with literal strings, so `make i18n-extract` finds them.
(function () {
  "use strict";
  var catalog = {};
  var el = document.getElementById("ucmail-i18n");
  if (el) {
    try { catalog = JSON.parse(el.textContent) || {}; } catch (e) { catalog = {}; }
  }
  function fill(text, vars) {
    if (!vars) return text;
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : all;
    });
  }
  function gettext(msgid, vars) {
    var text = catalog[msgid];
    return fill(typeof text === "string" && text ? text : msgid, vars);
  }
  function ngettext(singular, plural, n, vars) {
    var forms = catalog[singular];
    var values = Object.assign({ num: n }, vars || {});
    var index = n === 1 ? 0 : 1;
    var text = Array.isArray(forms) && forms[index] ? forms[index] : (n === 1 ? singular : plural);
    return fill(text, values);
  }
  // ucmail's own language first: a host layout may say lang="en" around a Spanish page.
  function lang() {
    return (el && el.getAttribute("data-lang")) || document.documentElement.getAttribute("lang") || "en";
  }
  window.ucmailI18n = { gettext: gettext, ngettext: ngettext, lang: lang };
})();
