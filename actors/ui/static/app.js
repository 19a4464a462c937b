// The dashboard's only script of its own: draws Mermaid graphs and shows action answers.
(function () {
  "use strict";
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
  // A graph is redrawn only when its source changed: a poll that brings the same
  // diagram puts back the drawing it had, so the page does not flicker.
  const drawn = new Map();
  let counter = 0;

  async function drawGraphs(root) {
    for (const el of root.querySelectorAll(".graph[data-source]")) {
      const source = el.getAttribute("data-source");
      const known = drawn.get(el.id);
      if (known && known.source === source) {
        el.innerHTML = known.svg;
        el.setAttribute("data-drawn", "true");
        continue;
      }
      try {
        counter += 1;
        const { svg } = await mermaid.render("mermaid-svg-" + counter, source);
        drawn.set(el.id, { source: source, svg: svg });
        el.innerHTML = svg;
        el.setAttribute("data-drawn", "true");
      } catch (err) {
        el.textContent = "This graph could not be drawn: " + err;
        el.setAttribute("data-drawn", "error");
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { drawGraphs(document); });
  document.body.addEventListener("htmx:afterSettle", function () { drawGraphs(document); });
  // A refused action (403, 409) answers with the same markup as a done one: show it.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
