// The board's "On call now" line: drawn by the server with the page, then asked again every minute,
// because shifts begin and end by the clock with no event to announce them. A failed ask keeps the
// last line (the connection indicator already says when the server is out of reach).
(function () {
  "use strict";
  const box = document.getElementById("on-call");
  if (!box) return;
  const url = box.dataset.url;
  const EVERY_MS = 60 * 1000;

  function draw(now) {
    const line = box.querySelector("[data-on-call]");
    if (!line) return;
    line.classList.toggle("on-call-nobody", now.nobody);
    const strong = (text) => { const s = document.createElement("strong"); s.textContent = text; return s; };
    if (now.nobody) {
      line.replaceChildren(strong("Nobody is on call."), " Alarms go to every coordinator.");
    } else {
      line.replaceChildren("On call now: primary ", strong(now.primary || "nobody"),
        ", backup ", strong(now.backup || "nobody"));
    }
  }

  function refresh() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then((now) => { if (now) draw(now); })
      .catch(() => { /* keep the last line */ });
  }

  setInterval(refresh, EVERY_MS);
})();
