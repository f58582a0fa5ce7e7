// Draw every figure whose spec is embedded in the page (JSON in a <script type="application/json">),
// and check a drafted rule as it is typed (the rule editor).
(function () {
  "use strict";
  function draw() {
    if (!window.Plotly) { return; }
    var nodes = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var spec = JSON.parse(document.getElementById(el.getAttribute("data-figure")).textContent);
      window.Plotly.newPlot(el, spec.data, spec.layout, {displaylogo: false, responsive: true}).then(function (gd) {
        gd.setAttribute("data-drawn", "1");
      });
    }
  }

  function fields(form) {
    var out = {applies_to: []};
    var els = form.elements;
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!el.name || el.name === "csrf" || el.name === "op") { continue; }
      if (el.type === "checkbox") { if (el.checked) { out.applies_to.push(el.value); } continue; }
      out[el.name] = el.value;
    }
    return out;
  }

  function show(box, form, result) {
    var marked = form.querySelectorAll("[data-field]");
    for (var i = 0; i < marked.length; i++) { marked[i].classList.remove("bad"); }
    box.textContent = "";
    box.className = "validation " + (result.ok ? "ok" : "bad");
    var head = document.createElement("b");
    head.textContent = result.ok ? box.getAttribute("data-ok") : box.getAttribute("data-bad");
    box.appendChild(head);
    if (result.ok) { return; }
    var list = document.createElement("ul");
    result.problems.forEach(function (p) {
      var item = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = p.field;
      var text = document.createElement("span");
      text.setAttribute("lang", "en");
      text.textContent = p.problem;
      item.appendChild(code);
      item.appendChild(document.createTextNode(": "));
      item.appendChild(text);
      list.appendChild(item);
      var field = form.querySelector('[data-field="' + p.field.split(".")[0] + '"]') ||
                  form.querySelector('[data-field="' + p.field + '"]');
      if (field) { field.classList.add("bad"); }
    });
    box.appendChild(list);
  }

  function editor() {
    var form = document.getElementById("rule-form");
    if (!form) { return; }
    var box = document.getElementById("rule-validation");
    var timer = null;
    var sent = 0;
    function check() {
      var mine = ++sent;
      box.setAttribute("data-state", "checking");
      fetch(form.getAttribute("data-validate"), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": form.getAttribute("data-csrf")},
        body: JSON.stringify(fields(form))
      }).then(function (r) { return r.json(); }).then(function (result) {
        if (mine !== sent) { return; }  // a later keystroke's answer wins
        show(box, form, result);
        box.setAttribute("data-state", result.ok ? "ok" : "bad");
      });
    }
    form.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(check, 250);
    });
    form.addEventListener("change", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(check, 50);
    });
  }

  function start() { draw(); editor(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
