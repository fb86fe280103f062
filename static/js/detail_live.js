// The detail file's live state and team, kept current from the detail's board room: the page is drawn
// by the server as it stood; this follows the detail's events as the board does. A status redraws the
// agent's code, its time and the late flag at once; a position its age; every event that may change
// more (an alert, a status's next stop and ETA, the detail's state, the itinerary) has the state read
// again (the event log is the truth, the socket a notice). Late flags and ages run on the server's
// clock (server_now in each state reply), whatever this browser's says. Text goes in as text only.
(function () {
  "use strict";
  const configNode = document.getElementById("detail-live-config");
  if (!configNode) return;
  const config = JSON.parse(configNode.textContent);
  const el = window.OM.el;
  const rows = window.OM.liveRows;
  const marker = document.querySelector("[data-live-state]");
  let clockOffset = 0; // server time minus this browser's, in ms
  const serverNow = () => Date.now() + clockOffset;
  let detail = null; // the detail as the board state gives it
  let alerts = new Map();
  let drawnLate = new Map(); // agent id -> late or not, as last drawn

  function setState(state, text) {
    if (!marker) return;
    marker.dataset.liveState = state;
    marker.textContent = text;
  }

  function lateAlertOpen(agentId) {
    for (const a of alerts.values()) {
      if (a.kind === "late_station" && !a.resolved_at && a.agent_id === agentId) return true;
    }
    return false;
  }

  const lateness = (agent, now) => rows.lateness(detail, agent, now, lateAlertOpen(agent.agent_id));

  const lateFlag = (ms, tag) => el(tag, { class: "late-flag" },
    el("span", { class: "late-icon", "aria-hidden": "true" }, "!"), el("span", { class: "late-text" }, rows.lateText(ms)));

  function codeCell(agent) {
    const s = agent.status;
    if (!s) return [el("span", { class: "muted" }, "no report yet")];
    const ink = s.code.text_colour || "#fff";
    return [el("span", { class: "code", style: "background:" + s.code.colour + ";color:" + ink, title: s.code.meaning }, s.code.code),
      s.note ? el("div", { class: "small" }, s.note) : null];
  }

  function nextCell(agent) {
    const next = agent.next_site;
    if (!next) return ["—"];
    return [next.name, next.eta ? el("span", { class: "muted" }, " (ETA " + window.OM.venueClock(next.eta, agent.timezone) + ")") : null];
  }

  // As _file.html's report_timing: punctuality, else the countdown (countdown.js moves it), else late.
  function timingCell(agent, late, now) {
    if (agent.punctuality) return [el("span", { class: "muted" }, agent.punctuality.text)];
    const left = Date.parse(agent.report_at) - now;
    if (left > 0 && detail.state !== "complete") {
      return [el("span", { class: "countdown", role: "timer", "data-until": agent.report_at }, rows.untilText(left))];
    }
    if (late !== null) return [lateFlag(late, "span")];
    return [el("span", { class: "muted" }, "report time passed")];
  }

  function positionText(agent, now) {
    const p = agent.position;
    return p ? rows.ageText(now - Date.parse(p.reported_at)) : null;
  }

  function drawPosition(cell, agent, now) {
    const age = positionText(agent, now);
    const shown = cell.querySelector(".position-age");
    if (age && shown) shown.textContent = age;
    else cell.replaceChildren(age ? el("span", { class: "position-age" }, age) : "no position");
  }

  function draw() {
    if (!detail) return;
    const now = serverNow();
    let lateCount = 0;
    drawnLate = new Map();
    for (const agent of detail.agents) {
      const late = lateness(agent, now);
      drawnLate.set(agent.agent_id, late !== null);
      if (late !== null) lateCount += 1;
      const liveRow = document.querySelector('#live tr[data-agent="' + agent.agent_id + '"]');
      if (liveRow) {
        liveRow.classList.toggle("late", late !== null);
        liveRow.querySelector(".live-agent").replaceChildren(agent.call_sign, late !== null ? lateFlag(late, "div") : "");
        liveRow.querySelector(".live-code").replaceChildren(...codeCell(agent).filter(Boolean));
        liveRow.querySelector(".live-since").textContent =
          agent.status ? window.OM.venueClock(agent.status.reported_at, agent.timezone) : "—";
        drawPosition(liveRow.querySelector(".live-position"), agent, now);
        liveRow.querySelector(".live-next").replaceChildren(...nextCell(agent).filter(Boolean));
      }
      const teamRow = document.querySelector('#assignments tr[data-agent="' + agent.agent_id + '"]');
      if (teamRow) {
        teamRow.classList.toggle("late", late !== null);
        teamRow.querySelector(".report-timing").replaceChildren(...timingCell(agent, late, now));
      }
    }
    const summary = document.querySelector("#live .late-summary");
    if (summary) summary.replaceChildren(...(lateCount ? [" · ", el("strong", { class: "late-count" }, lateCount + " late")] : []));
  }

  // Each second: a row that turns late (or stops being late) is drawn again; ages move.
  function tick() {
    if (!detail) return;
    const now = serverNow();
    if (detail.agents.some((agent) => (lateness(agent, now) !== null) !== drawnLate.get(agent.agent_id))) { draw(); return; }
    for (const agent of detail.agents) {
      const cell = document.querySelector('#live tr[data-agent="' + agent.agent_id + '"] .live-position');
      if (cell) drawPosition(cell, agent, now);
      const flag = document.querySelector('#live tr[data-agent="' + agent.agent_id + '"] .late-text');
      const late = lateness(agent, now);
      if (flag && late !== null) flag.textContent = rows.lateText(late);
    }
  }

  function load() {
    const sentAt = Date.now();
    return fetch(config.state_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error("live state: " + r.status); return r.json(); })
      .then((state) => {
        // The server read its clock between our request and its reply: take the middle.
        clockOffset = Date.parse(state.server_now) - (sentAt + Date.now()) / 2;
        detail = state.detail;
        window.OM.learnZoneLabels(detail.zone_labels);
        alerts = new Map((detail.alerts || []).map((a) => [a.alert_id, a]));
        const time = document.querySelector("#live .live-time");
        if (time) time.textContent = window.OM.venueClock(state.server_now, detail.timezone);
        draw();
      });
  }

  let reloadTimer = null;
  function reloadSoon() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(() => {
      reloadTimer = null;
      load().catch((e) => setState("offline", "Offline (" + e.message + "), as of"));
    }, 500);
  }

  function findAgent(agentId) {
    return detail ? detail.agents.find((a) => a.agent_id === agentId) : null;
  }

  function onEvent(ev) {
    if (!detail || ev.detail_id !== detail.id) return;
    const p = ev.payload;
    if (ev.kind === "status") {
      const agent = findAgent(p.agent_id);
      if (agent) {
        rows.applyStatus(agent, p);
        if (p.latitude !== null && p.latitude !== undefined) {
          agent.position = { ...agent.position, latitude: p.latitude, longitude: p.longitude, reported_at: p.reported_at };
        }
      }
      draw();
    } else if (ev.kind.startsWith("alert")) {
      alerts.set(p.alert_id, p);
      draw();
    }
    // The next stop, its ETA and what an alert or a change of plan means are the server's to say.
    if (ev.kind === "status" || ev.kind.startsWith("alert") || ev.kind === "detail_state" || ev.kind.startsWith("itinerary_")) {
      reloadSoon();
    }
  }

  function connect() {
    const socket = io(config.namespace, { transports: ["websocket"] });
    socket.on("connect", () => {
      socket.emit("join", { detail_id: config.detail_id }, (ack) => {
        if (!ack || !ack.ok) { setState("offline", "Not live (" + (ack ? ack.error : "join refused") + "), as of"); return; }
        // Whatever happened while the socket was down is in the state read now.
        load().then(() => setState("live", "Live, following the detail's events; read at"))
          .catch((e) => setState("offline", "Offline (" + e.message + "), as of"));
      });
    });
    socket.on("event", onEvent);
    socket.on("position", (p) => {
      const agent = findAgent(p.agent_id);
      if (!agent) return;
      agent.position = p;
      const cell = document.querySelector('#live tr[data-agent="' + p.agent_id + '"] .live-position');
      if (cell) drawPosition(cell, agent, serverNow());
    });
    socket.on("disconnect", () => setState("offline", "Reconnecting; as of"));
  }

  load().then(() => { setInterval(tick, 1000); connect(); })
    .catch((e) => setState("offline", "Offline (" + e.message + "), as of"));
})();
