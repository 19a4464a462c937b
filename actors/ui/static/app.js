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
  // A live part of the page whose refresh failed (the store gone: 503; the dashboard
  // itself gone: no answer) keeps what it showed, marked as stale, with the reason; the
  // next refresh that succeeds takes the mark away.
  let lastShown = new Date();
  const LIVE = "#overview-live, #case-live";
  // Fresh content swapped in (with outerHTML the requesting element is gone by then, so
  // its own events no longer reach the body: the new content's load event does).
  document.body.addEventListener("htmx:load", function (event) {
    const elt = event.detail.elt;
    if (!elt.closest || !elt.closest(LIVE)) return;
    lastShown = new Date();
    const stale = document.getElementById("stale");
    stale.textContent = "";
    stale.className = "";
    document.querySelectorAll(LIVE).forEach(function (live) { live.classList.remove("stale"); });
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    const elt = event.detail.elt;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (!elt || !elt.matches || !elt.matches(LIVE) || (status >= 200 && status < 400)) return;
    let reason = "the dashboard cannot be reached";
    if (status) {
      const answer = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
      reason = answer.body.textContent.trim() || "the dashboard answered " + status;
    }
    const stale = document.getElementById("stale");
    stale.textContent = "Not updated since " + lastShown.toLocaleTimeString() + ": " + reason;
    stale.className = "flash error";
    elt.classList.add("stale");
  });

  // A refused action (403, 409) answers with the same markup as a done one: show it.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
