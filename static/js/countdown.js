// The detail file's countdowns to report times: the page draws each one as it stood when the server
// read it (data-server-now on the table); this keeps them moving on the server's clock, whatever the
// browser's says. Past the report time a countdown says so; the live board has the rest.
(function () {
  "use strict";

  const table = document.querySelector("[data-server-now]");
  if (!table) return;
  const offset = Date.parse(table.dataset.serverNow) - Date.now();
  const twoDigits = (n) => String(n).padStart(2, "0");

  // As detail_file.until_text (and the board's untilText).
  function untilText(ms) {
    const s = Math.ceil(ms / 1000);
    if (s < 60) return "in " + s + " s";
    if (s < 3600) return "in " + Math.floor(s / 60) + " min " + twoDigits(s % 60) + " s";
    return "in " + Math.floor(s / 3600) + " h " + twoDigits(Math.floor((s % 3600) / 60)) + " min";
  }

  function tick() {
    const now = Date.now() + offset;
    for (const node of document.querySelectorAll(".countdown[data-until]")) {
      const left = Date.parse(node.dataset.until) - now;
      if (left > 0) node.textContent = untilText(left);
      else {
        node.textContent = "report time now";
        node.removeAttribute("data-until");
      }
    }
  }

  tick();
  setInterval(tick, 1000);
})();
