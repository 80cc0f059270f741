/* latc capture — the only script of the web forms (served locally; CSP script-src 'self').
 *
 * 1. Branching: a field row carrying data-show-if (the dictionary's show_if as a JSON tree made by
 *    latc.capture.web.conditions.condition_tree) is shown only while its condition is true; a hidden
 *    field's inputs are disabled, so it is submitted blank (the dictionary: "a field with show_if must
 *    be blank when the condition is false") but keeps what was typed if it comes back.
 *    Evaluation mirrors latc.dictionary.Condition.evaluate exactly: values are raw codes, trimmed;
 *    blank = missing; ==, !=, in are false on a missing value; "not in" is true on a missing value.
 * 2. Reason for change: when a value that was already saved (data-original) is changed, the
 *    reason row appears and becomes required.
 * 3. Keyboard: Enter saves from any field (a select too), Ctrl+Enter saves from a notes box.
 * 4. Focus: a pre-filled box with the focus gets the cursor at its end; a refused save without a
 *    reason for change puts the cursor in the reason box.
 */
(function () {
  "use strict";

  function present(v) {
    if (v === null || v === undefined) return null;
    var s = String(v).trim();
    return s === "" ? null : s;
  }

  function evaluate(tree, get) {
    if (tree.op === "and") return tree.args.every(function (t) { return evaluate(t, get); });
    if (tree.op === "or") return tree.args.some(function (t) { return evaluate(t, get); });
    var v = present(get(tree.field));
    if (tree.op === "notin") return v === null || tree.values.indexOf(v) < 0;
    if (v === null) return false;
    if (tree.op === "in") return tree.values.indexOf(v) >= 0;
    if (tree.op === "eq") return v === tree.value;
    if (tree.op === "ne") return v !== tree.value;
    throw new Error("unknown operator " + tree.op);
  }

  function inputsOf(row) {
    return Array.prototype.slice.call(row.querySelectorAll("input, select, textarea"));
  }

  function valueOf(form, prefix, name) {
    var el = form.elements.namedItem(prefix + name);
    if (!el) return null;
    if (el.disabled) return null;
    if (el instanceof RadioNodeList) return el.value;
    return el.value;
  }

  function applyBranching(form) {
    var prefix = form.getAttribute("data-prefix") || "";
    var rows = Array.prototype.slice.call(form.querySelectorAll("[data-show-if]"));
    var get = function (name) { return valueOf(form, prefix, name); };
    // a condition may name a field that is itself conditional: repeat until nothing changes
    for (var pass = 0; pass < rows.length + 1; pass++) {
      var changed = false;
      rows.forEach(function (row) {
        var shown = evaluate(JSON.parse(row.getAttribute("data-show-if")), get);
        if (row.hidden === shown) {
          row.hidden = !shown;
          inputsOf(row).forEach(function (el) { el.disabled = !shown; });
          changed = true;
        }
      });
      if (!changed) break;
    }
  }

  function applyReason(form) {
    var row = form.querySelector("[data-reason-row]");
    if (!row) return;
    var changed = Array.prototype.slice.call(form.querySelectorAll("[data-original]")).some(function (el) {
      var original = (el.getAttribute("data-original") || "").trim();
      if (original === "") return false;
      var now = el.disabled ? "" : String(el.value || "").trim();
      return now !== original;
    });
    var box = row.querySelector("textarea, input");
    var force = row.hasAttribute("data-reason-forced");
    row.hidden = !(changed || force);
    if (box) box.required = changed || force;
  }

  function onKey(form, e) {
    if (e.key !== "Enter" || e.isComposing) return;
    var t = e.target;
    if (t.tagName === "TEXTAREA") {
      if (!(e.ctrlKey || e.metaKey)) return;
    } else if (t.tagName !== "SELECT") {
      return; // text inputs submit by themselves (implicit submission: first button = Save)
    }
    e.preventDefault();
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function setup(form) {
    var refresh = function () { applyBranching(form); applyReason(form); };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    form.addEventListener("keydown", function (e) { onKey(form, e); });
    refresh();
    // a save refused for want of a reason: the cursor goes to the reason box, not the first field
    var forced = form.querySelector("[data-reason-forced] textarea");
    if (forced) forced.focus();
  }

  // 4. A pre-filled box that has the focus (the "C01-" of a new patient id): the cursor goes after
  //    the text, so that typing continues it instead of writing in front of it.
  function caretToEnd() {
    var el = document.querySelector("input[autofocus]");
    if (!el || ["text", "search"].indexOf(el.type) < 0) return;
    var move = function () {
      if (!el.value) return;
      try { el.setSelectionRange(el.value.length, el.value.length); } catch (e) { /* not a text box */ }
    };
    // autofocus may happen before or after this script runs: handle both, once
    if (document.activeElement === el) move();
    else el.addEventListener("focus", move, { once: true });
  }

  function confirmForms() {
    Array.prototype.slice.call(document.querySelectorAll("form[data-confirm]")).forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.slice.call(document.querySelectorAll("form[data-crf]")).forEach(setup);
    confirmForms();
    caretToEnd();
    document.documentElement.classList.add("js");
  });

  window.latcCapture = { evaluate: evaluate, present: present };
})();
