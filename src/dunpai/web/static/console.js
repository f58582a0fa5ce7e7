// Draw every figure whose spec is embedded in the page (JSON in a <script type="application/json">).
(function () {
  "use strict";
  function draw() {
    var nodes = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var spec = JSON.parse(document.getElementById(el.getAttribute("data-figure")).textContent);
      window.Plotly.newPlot(el, spec.data, spec.layout, {displaylogo: false, responsive: true}).then(function (gd) {
        gd.setAttribute("data-drawn", "1");
      });
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
