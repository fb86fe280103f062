// What an agent's row says of its report time, shared by the board (board.js) and the detail file
// (detail_live.js), as the server says it (detail/domain/board_state.py, detail_file.py): the
// countdown, the late flag, punctuality once on station, the age of a position. Every "now" passed in
// is the server's clock as the page keeps it, never the browser's own.
window.OM = window.OM || {};
(function () {
  "use strict";
  const twoDigits = (n) => String(n).padStart(2, "0");

  // Codes whose signal puts the agent at the venue: the first one ends the lateness.
  const AT_VENUE = ["on_station", "hot"];

  // As detail_file.until_text.
  function untilText(ms) {
    const s = Math.ceil(ms / 1000);
    if (s < 60) return "in " + s + " s";
    if (s < 3600) return "in " + Math.floor(s / 60) + " min " + twoDigits(s % 60) + " s";
    return "in " + Math.floor(s / 3600) + " h " + twoDigits(Math.floor((s % 3600) / 60)) + " min";
  }

  // As board_state.late_text.
  function lateText(ms) {
    const s = Math.floor(ms / 1000);
    if (s < 60) return "Late " + s + " s";
    const m = Math.floor(s / 60);
    if (m < 90) return "Late " + m + " min";
    return "Late " + Math.floor(m / 60) + " h " + twoDigits(m % 60) + " min";
  }

  // As detail_file.age_text.
  function ageText(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s ago";
    const m = Math.floor(s / 60);
    if (m < 90) return m + " min ago";
    return Math.floor(m / 60) + " h " + twoDigits(m % 60) + " min ago";
  }

  // Milliseconds past the report time, or null when not late. As board_state.lateness, on the page's
  // clock so the row turns at the report time; an open late alert from the server turns it too.
  function lateness(detail, agent, now, lateAlertOpen) {
    if (agent.on_station_at || detail.state === "complete") return null;
    const due = Date.parse(agent.report_at);
    const onShift = now >= due && now <= Date.parse(agent.shift_ends_at);
    if (!onShift && !lateAlertOpen) return null;
    return Math.max(0, now - due);
  }

  // As board_state.punctuality_from: the first report on station against the report time.
  function arrived(agent, at) {
    agent.on_station_at = at;
    const minutes = Math.round((Date.parse(at) - Date.parse(agent.report_at)) / 60000);
    const text = minutes < 0 ? "on station " + -minutes + " min before report time"
      : minutes === 0 ? "on station at report time" : "on station " + minutes + " min late";
    agent.punctuality = { on_station_at: at, minutes, text };
  }

  // A status event for the agent: the newest report wins; the first at the venue ends the lateness.
  function applyStatus(agent, p) {
    if (!agent.status || agent.status.reported_at <= p.reported_at) agent.status = p;
    if (AT_VENUE.includes(p.code.signal) && (!agent.on_station_at || Date.parse(p.reported_at) < Date.parse(agent.on_station_at))) {
      arrived(agent, p.reported_at);
    }
  }

  window.OM.liveRows = { AT_VENUE, untilText, lateText, ageText, lateness, arrived, applyStatus };
})();
