// Coordinators' board: first paint from the state URL, then events over Socket.IO.
// Events are applied by id, so a catch-up after a reconnect and live events may arrive in any
// order and none is applied twice. All text goes in through textContent: feed, note and name
// fields are other people's input.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("board-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const seen = new Set();
  // The id up to which the board holds every event: only the state and catch-up replies move it.
  // Live pushes do not: one lost between processes would otherwise hide behind later ones.
  let syncedId = 0;
  const CATCH_UP_PAGE = 500;  // live.events_after's limit
  let details = new Map(); // detail id -> detail board
  let alerts = new Map(); // alert id -> alert
  let requests = new Map(); // client request id -> request waiting for acknowledgment
  const rungFor = new Set(); // overdue requests already beeped for
  let timeline = [];
  let map = null;
  let plan = null; // the map's venues and movements, redrawn as one layer
  const agentMarkers = new Map();
  let audio = null;

  const el = window.OM.el;

  // Countdowns, late flags and ages run on the server's time, not this machine's (which may be
  // minutes off): each state reply says the server's time, and the offset from ours is kept.
  let clockOffset = 0; // server time minus this browser's, in ms
  const serverNow = () => Date.now() + clockOffset;

  // Every time in the venue's zone with the server's label for it ("07:30 EST"), whatever this
  // browser's own zone and its names for zones (venue_time.js; the labels come with each state).
  const localTime = window.OM.venueClock;
  const venueTime = (iso, tz) => window.OM.venueClock(iso, tz);
  const ago = (iso) => {
    if (!iso) return "";
    const s = Math.max(0, Math.round((serverNow() - new Date(iso).getTime()) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  };

  function setConnection(state, text) {
    const node = document.getElementById("connection");
    node.dataset.state = state;
    node.textContent = text;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json().then((data) => {
      if (!r.ok) throw new Error(data.message || r.statusText);
      return data;
    }));
  }

  // ---- report times and lateness -------------------------------------------------------

  function setClock(serverIso, sentAt, receivedAt) {
    if (!serverIso) return;
    // The server read its clock somewhere between our request and its reply: take the middle.
    clockOffset = new Date(serverIso).getTime() - (sentAt + receivedAt) / 2;
  }

  // The countdown, late flag and punctuality as the detail file says them too (live_rows.js).
  const { AT_VENUE, untilText, lateText, arrived } = window.OM.liveRows;

  function lateAlertOpen(detailId, agentId) {
    for (const a of alerts.values()) {
      if (a.kind === "late_station" && !a.resolved_at && a.detail_id === detailId && a.agent_id === agentId) return true;
    }
    return false;
  }

  // Milliseconds past the report time, or null when not late (live_rows.js).
  function lateness(detail, agent, now) {
    return window.OM.liveRows.lateness(detail, agent, now, lateAlertOpen(detail.id, agent.agent_id));
  }

  function lateFlag(ms) {
    return el("div", { class: "late-flag" }, el("span", { class: "late-icon", "aria-hidden": "true" }, "!"),
      el("span", { class: "late-text" }, lateText(ms)));
  }

  // The countdown to the report time; once on station, how punctual the agent was.
  function reportTiming(detail, agent, now) {
    if (agent.punctuality) return el("div", { class: "muted" }, agent.punctuality.text);
    const left = Date.parse(agent.report_at) - now;
    if (left <= 0 || detail.state === "complete") return null;
    // role=timer: read when asked for, never announced as it ticks.
    return el("div", { class: "countdown", role: "timer" }, untilText(left));
  }

  // Each second: the countdowns' text, and the late flags' (a row that turns late or stops being
  // late is drawn again and said once in the live region).
  function tick() {
    const now = serverNow();
    if (lateRowsChanged(now)) { renderDetails(); return; }
    for (const row of document.querySelectorAll("tr.agent-row")) {
      const detail = details.get(Number(row.dataset.detail));
      const agent = detail && detail.agents.find((a) => a.agent_id === Number(row.dataset.agent));
      if (!agent) continue;
      const late = lateness(detail, agent, now);
      const flagText = row.querySelector(".late-text");
      if (flagText && late !== null) flagText.textContent = lateText(late);
      const countdown = row.querySelector(".countdown");
      const left = Date.parse(agent.report_at) - now;
      if (countdown && left > 0) countdown.textContent = untilText(left);
      else if (countdown) countdown.remove();
    }
  }

  let lateRows = null; // "detail:agent" -> call sign of the rows flagged late, as last drawn

  function lateNow(now) {
    const keys = new Map();
    for (const detail of details.values()) {
      for (const agent of detail.agents) {
        const late = lateness(detail, agent, now);
        if (late !== null) keys.set(detail.id + ":" + agent.agent_id, { detail, agent, late });
      }
    }
    return keys;
  }

  function lateRowsChanged(now) {
    const keys = lateNow(now);
    if (lateRows === null || keys.size !== lateRows.size) return true;
    for (const key of keys.keys()) if (!lateRows.has(key)) return true;
    return false;
  }

  // Called with each drawing of the rows: says what changed since the last one (nothing on the first).
  function announceLateness(now) {
    if (lateRows === null && details.size === 0) return; // drawn before the state came: not a first paint
    const keys = lateNow(now);
    const said = [];
    if (lateRows !== null) {
      for (const [key, { agent, late }] of keys) {
        if (!lateRows.has(key)) said.push(agent.call_sign + " " + lateText(late).toLowerCase() + ": report time " +
          venueTime(agent.report_at, agent.timezone) + ".");
      }
      for (const [key, callSign] of lateRows) {
        if (keys.has(key)) continue;
        const [detailId, agentId] = key.split(":").map(Number);
        const agent = findAgent(detailId, agentId);
        said.push(callSign + (agent && agent.on_station_at ? " on station." : " no longer late."));
      }
    }
    lateRows = new Map([...keys].map(([key, v]) => [key, v.agent.call_sign]));
    if (said.length) document.getElementById("board-announce").textContent = said.join(" ");
  }

  // ---- rendering ------------------------------------------------------------------------

  function codeChip(status) {
    if (!status) return el("span", { class: "code code-none" }, "—");
    const ink = status.code.text_colour || "#fff";  // events logged before codes carried it
    return el("span", { class: "code", style: "background:" + status.code.colour + ";color:" + ink, title: status.code.meaning },
      status.code.code);
  }

  // Straight-line metres between two points (the server uses the ellipsoid; this is for live redraws).
  function metres(a, b) {
    const rad = Math.PI / 180;
    const dLat = (b.latitude - a.latitude) * rad, dLon = (b.longitude - a.longitude) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
  }

  // As board_state.arrival_estimate: roads 1.3x the straight line, town speed unless moving faster.
  function nextSiteCell(agent) {
    const site = agent.next_site, p = agent.position;
    if (!site) return "—";
    if (!p) return [site.name, el("div", { class: "muted" }, "no position")];
    const d = metres(p, site);
    const speed = p.speed_kmh && p.speed_kmh >= 10 ? p.speed_kmh : 30;
    const minutes = Math.round(d * 1.3 / 1000 / speed * 60);
    const distance = d < 1000 ? Math.round(d) + " m" : (d / 1000).toFixed(1) + " km";
    return [site.name, el("div", { class: "muted" }, distance + (d > 150 ? " · ~" + minutes + " min" : " · there"))];
  }

  function clockFlag(item) {
    if (!item || !item.clock_offset_s) return null;
    const minutes = Math.round(item.clock_offset_s / 60);
    return el("div", { class: "badge badge-queued", title: "the device's clock is off; our time is shown" },
      "device clock " + (minutes > 0 ? "+" : "") + minutes + " min");
  }

  // The agents' table: each cell carries its column's name for the stacked layout of narrow screens.
  const COLUMNS = ["Agent", "Role", "Code", "Since", "Source", "Position", "Next", "Report"];
  const cell = (column, attrs, ...children) =>
    el("td", { ...attrs, "data-label": COLUMNS[column] }, ...children);

  function agentRow(detail, agent, now) {
    const s = agent.status;
    const p = agent.position;
    const late = lateness(detail, agent, now);
    return el("tr", { class: "agent-row" + (late !== null ? " late" : ""), "data-detail": detail.id, "data-agent": agent.agent_id },
      cell(0, { class: "agent-cell" }, el("strong", null, agent.call_sign), el("div", { class: "small muted" }, agent.name),
        late !== null ? lateFlag(late) : null),
      cell(1, null, agent.role_label, agent.site ? el("div", { class: "small muted" }, agent.site) : null),
      cell(2, null, codeChip(s),
        s && s.note ? el("div", { class: "small" }, s.note) : null,
        s && s.eta ? el("div", { class: "small" }, "ETA " + localTime(s.eta, agent.timezone)) : null),
      cell(3, { class: "small" },
        s ? [localTime(s.reported_at, agent.timezone), el("div", { class: "muted" }, ago(s.reported_at))] : "no report",
        s && s.late_upload ? el("div", { class: "badge badge-queued" }, "late upload") : null, clockFlag(s)),
      cell(4, { class: "small" }, s ? [s.source, s.automatic ? el("div", { class: "badge" }, "auto") : null] : ""),
      cell(5, { class: "small" },
        p ? [p.latitude.toFixed(5) + ", " + p.longitude.toFixed(5), el("div", { class: "muted" }, ago(p.reported_at)),
          clockFlag(p)]
          : "no position"),
      cell(6, { class: "small next-site" }, nextSiteCell(agent)),
      cell(7, { class: "small report-cell" }, "report " + venueTime(agent.report_at, agent.timezone),
        reportTiming(detail, agent, now)),
    );
  }

  // The detail's states side by side, each in a place of its own. A move's button sits in the place
  // of the state it moves to, so once pressed that place shows the new state and never the next
  // button: Complete is never where Go hot was. Every move asks first, names the state it leaves
  // (a second request finds the state moved and changes nothing) and is sent once.
  const STATES = ["planned", "hot", "complete"];
  const moving = new Set(); // ids of details whose move is in flight: their buttons are disabled

  function stateSteps(detail) {
    return el("div", { class: "state-steps", role: "group", "aria-label": "State of " + detail.name },
      STATES.map((state) => {
        const move = (config.moves || []).find((m) => m.from === detail.state && m.to === state);
        let inner;
        if (state === detail.state) {
          inner = el("span", { class: "step-current", "aria-current": "step", tabindex: "-1", "data-current": detail.id },
            el("span", { class: "state state-" + state }, state), " now");
        } else if (move) {
          inner = el("button", {
            type: "button", class: state === "planned" ? "" : "danger", "data-move": detail.id + ":" + state,
            disabled: moving.has(detail.id), onclick: () => askToMove(detail, move),
          }, move.label);
        } else {
          inner = el("span", { class: "step-other muted" }, state);
        }
        return el("div", { class: "step step-" + state }, inner);
      }));
  }

  function notice(text) {
    const node = document.getElementById("board-notice");
    if (node) node.textContent = text;
  }

  function askToMove(detail, move) {
    if (moving.has(detail.id)) return;
    const find = (selector) => document.querySelector(selector);
    window.OM.confirm({
      title: move.label + ": " + detail.name + "?",
      effect: move.effect,
      button: move.label,
      danger: move.to !== "planned",
      // The cards are redrawn by every event: find the button again, or the state it moved to.
      returnFocus: () => find('[data-move="' + detail.id + ":" + move.to + '"]') || find('[data-current="' + detail.id + '"]'),
    }).then((yes) => {
      if (!yes || moving.has(detail.id)) return;
      moving.add(detail.id);
      renderDetails();
      post(config.board_url + "details/" + detail.id + "/state", { state: move.to, from_state: move.from, confirmed: true })
        .then((data) => {
          const current = details.get(detail.id);
          if (current) current.state = data.state;
          notice(detail.name + " is " + data.state + ".");
        })
        .catch((e) => notice(e.message.charAt(0).toUpperCase() + e.message.slice(1) + "."))
        .finally(() => {
          moving.delete(detail.id);
          renderDetails();
          const marker = find('[data-current="' + detail.id + '"]');
          if (marker && (!document.activeElement || document.activeElement === document.body)) marker.focus();
        });
    });
  }

  function detailCard(detail) {
    const now = serverNow();
    const rows = detail.agents.map((agent) => agentRow(detail, agent, now));
    const title = config.detail_id
      ? el("h2", null, detail.name)
      : el("h2", null, el("a", { href: config.board_url + "details/" + detail.id }, detail.name));
    return el("section", { class: "card", "data-detail": detail.id },
      el("div", { class: "actions" }, title,
        el("span", { class: "muted" }, detail.client + (detail.principal ? " · " + detail.principal : "")),
        el("span", { class: "muted small" },
          localTime(detail.starts_at, detail.timezone, true) + " – " + localTime(detail.ends_at, detail.timezone))),
      stateSteps(detail),
      el("div", { class: "table-wrap agents-wrap" },
        el("table", { class: "agents-table" },
          el("thead", null, el("tr", null, COLUMNS.map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", null, rows.length ? rows : el("tr", null, el("td", { colspan: 8 }, "No agents assigned."))))),
      surveyList(detail),
      intelList(detail));
  }

  // Each venue's advance survey: none, draft, submitted, returned or approved.
  function surveyList(detail) {
    const surveys = detail.surveys || [];
    if (!surveys.length) return null;
    return el("p", { class: "small" }, "Surveys: ", ...surveys.map((s) =>
      el("span", { class: "badge survey-" + s.status, "data-survey-site": s.site },
        s.survey_id ? el("a", { href: config.surveys_url + s.survey_id }, s.site + ": " + s.status) : s.site + ": not surveyed")));
  }

  const SEVERITY_ORDER = ["info", "low", "moderate", "high", "critical"];

  function intelList(detail) {
    const advisories = (detail.advisories || []).slice()
      .sort((a, b) => SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity));
    if (!advisories.length) return el("p", { class: "small muted" }, "No intel near this detail's venues.");
    return el("div", null, el("h3", null, "Intel ",
      el("a", { class: "small", href: "/intel/advisories?detail=" + detail.id }, "review")),
    el("ul", { class: "intel-list" }, advisories.map((a) => el("li", { "data-advisory": a.advisory_id },
      el("span", { class: "severity sev-" + a.severity }, a.severity), " ",
      el("strong", null, a.title), a.status === "candidate" ? el("span", { class: "badge" }, " to review") : null,
      el("div", { class: "small muted" }, a.reason)))));
  }

  function applyAdvisory(ev) {
    const detail = details.get(ev.detail_id);
    if (!detail) return;
    const p = ev.payload;
    const list = (detail.advisories || []).filter((a) => a.advisory_id !== p.advisory_id);
    if (p.status === "candidate" || p.status === "published") list.push(p);
    if (ev.kind === "advisory_merged") {
      const folded = list.findIndex((a) => a.advisory_id === p.merged_from);
      if (folded >= 0) list.splice(folded, 1);
    }
    detail.advisories = list;
  }

  function renderDetails() {
    const root = document.getElementById("details");
    const cards = [...details.values()].map(detailCard);
    window.OM.keepFocus([root], () => root.replaceChildren(...(cards.length ? cards : [el("p", { class: "empty" }, "No details today.")])));
    announceLateness(serverNow());
  }

  // An acknowledged alarm's controls go away: the keyboard goes on to the next alarm or alert
  // still to acknowledge (its note, else its button), else to the alert list's heading.
  function nextToAcknowledge(lost) {
    const row = lost.closest("[data-alert]");
    const after = row ? Number(row.dataset.alert) : 0;
    const waiting = [...document.querySelectorAll("#duress [data-alert], #alerts [data-alert]")]
      .map((r) => r.querySelector("input, button.acknowledge"))
      .filter(Boolean);
    const next = waiting.find((control) => Number(control.closest("[data-alert]").dataset.alert) > after) || waiting[0];
    return next || document.getElementById("alerts-heading");
  }

  function renderAlerts() {
    const open = [...alerts.values()].filter((a) => !a.resolved_at);
    const duress = open.filter((a) => a.kind === "duress");
    const others = open.filter((a) => a.kind !== "duress");
    const duressBox = document.getElementById("duress");
    const alertList = document.getElementById("alerts");
    const duressRows = [...(duress.length ? [el("h2", null, "DURESS ALARM")] : []), ...duress.map((a) => {
      const note = el("input", { type: "text", placeholder: "What was done (required)", "aria-label": "Acknowledgement note" });
      return el("div", { class: "alarm", "data-alert": a.alert_id },
        el("strong", null, a.message),
        el("span", null, "raised " + a.raised_at_local),
        a.latitude !== null ? el("a", { href: "https://www.openstreetmap.org/?mlat=" + a.latitude + "&mlon=" + a.longitude,
          target: "_blank", rel: "noopener" }, "last position " + a.latitude.toFixed(5) + ", " + a.longitude.toFixed(5))
          : el("span", null, "no position"),
        note,
        el("button", { type: "button", class: "acknowledge", onclick: () => {
          if (!note.value.trim()) { note.focus(); return; }
          post(config.board_url + "alerts/" + a.alert_id + "/acknowledge", { note: note.value }).catch((e) => alert(e.message));
        } }, "Acknowledge"),
        window.OM.escalationView(a.escalation));
    })];
    alarm(duress.length > 0);
    const now = serverNow();
    const alertRows = others.map((a) => {
      const muted = a.muted_until && new Date(a.muted_until).getTime() > now;
      return el("div", { class: "alert" + (muted ? " muted" : ""), "data-alert": a.alert_id },
        el("span", { class: "msg" }, a.message),
        a.acknowledged_at ? el("span", { class: "small muted" }, "acknowledged by " + a.acknowledged_by) : null,
        muted ? el("span", { class: "small muted" }, "muted until " + a.muted_until_local) : null,
        a.acknowledged_at ? null : el("button", { type: "button", class: "acknowledge", onclick: () =>
          post(config.board_url + "alerts/" + a.alert_id + "/acknowledge", { note: "" }).catch((e) => alert(e.message)) },
        "Acknowledge"),
        el("button", { type: "button", onclick: () =>
          post(config.board_url + "alerts/" + a.alert_id + "/mute", { minutes: 15 }).catch((e) => alert(e.message)) },
        "Mute 15 min"),
        window.OM.escalationView(a.escalation));
    });
    window.OM.keepFocus([duressBox, alertList], () => {
      duressBox.hidden = duress.length === 0;
      window.OM.replaceIfChanged(duressBox, duressRows);
      window.OM.replaceIfChanged(alertList, alertRows.length ? alertRows : [el("p", { class: "small muted" }, "No open alerts.")]);
    }, nextToAcknowledge);
  }

  // Clients' requests waiting for acknowledgment, oldest first; urgent ones past their time in red.
  function renderRequests() {
    const box = document.getElementById("requests");
    if (!box) return;
    const now = serverNow();
    const waiting = [...requests.values()].sort((a, b) => a.received_at.localeCompare(b.received_at));
    const rows = [...(waiting.length ? [el("h2", null, "Client requests waiting (" + waiting.length + ")")] : []),
      ...waiting.map((r) => {
        const overdue = r.overdue || (r.overdue_at && new Date(r.overdue_at).getTime() <= now);
        if (overdue && !rungFor.has(r.request_id)) { rungFor.add(r.request_id); beepOnce(); }
        return el("div", { class: "request " + r.priority + (overdue ? " overdue" : ""), "data-request": r.request_id },
          el("strong", null, r.priority.toUpperCase()),
          el("a", { href: config.requests_url + r.request_id }, r.subject),
          el("span", { class: "small muted" }, r.client + (r.contact ? ", " + r.contact : "") + " · waiting " + ago(r.received_at).replace(" ago", "")),
          overdue ? el("span", { class: "badge badge-refused" }, "overdue") : null,
          el("button", { type: "button", onclick: () =>
            post(config.board_url + "requests/" + r.request_id + "/acknowledge", { note: "" }).catch((e) => alert(e.message)) },
          "Acknowledge"));
      })];
    window.OM.keepFocus([box], () => {
      box.hidden = waiting.length === 0;
      window.OM.replaceIfChanged(box, rows);
    }, () => box.querySelector("[data-request] button") || document.getElementById("alerts-heading"));
  }

  function beepOnce() {
    try {
      const ctx = window.OM.sound.context(); // the page's one context, armed by alarm_sound.js
      if (!ctx || ctx.state !== "running") return;
      const osc = ctx.createOscillator();
      osc.frequency.value = 740;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no audio: the red row still shows */ }
  }

  // A repeating two-tone alarm from WebAudio: no sound file to load, works offline.
  function alarm(on) {
    if (!on) { if (audio) { clearInterval(audio.timer); audio = null; } return; }
    if (audio) return;
    try {
      const ctx = window.OM.sound.context(); // kept open: an alarm before the first click sounds once armed
      if (!ctx) return;
      const beep = () => {
        if (ctx.state !== "running") return; // not armed yet: tones would pile up and sound at once
        [880, 660].forEach((freq, i) => {
          const osc = ctx.createOscillator();
          const gain = ctx.createGain();
          osc.frequency.value = freq;
          gain.gain.value = 0.2;
          osc.connect(gain).connect(ctx.destination);
          osc.start(ctx.currentTime + i * 0.25);
          osc.stop(ctx.currentTime + i * 0.25 + 0.22);
        });
      };
      beep();
      audio = { ctx, timer: setInterval(beep, 1500) };
    } catch (e) { /* no audio: the banner still shows */ }
  }

  function describe(ev) {
    const p = ev.payload;
    switch (ev.kind) {
      case "status": return p.call_sign + " " + p.code.code + (p.note ? " – " + p.note : "") + " (" + (p.automatic ? "automatic, " : "") + p.source + ")";
      case "alert": return "Alert: " + p.message;
      case "alert_acknowledged": return "Acknowledged: " + p.message + " by " + p.acknowledged_by +
        (p.acknowledgement_note ? " – " + p.acknowledgement_note : "");
      case "alert_muted": return "Muted: " + p.message;
      case "alert_resolved": return "Resolved: " + p.message;
      case "detail_state": return "Detail " + p.state + " (by " + p.by + ")";
      case "itinerary_removed": return "Removed " + p.what + " (by " + p.by + ")";
      case "itinerary_restored": return "Put back " + p.what + " (by " + p.by + ")";
      case "advisory_candidate": return "Intel to review (" + p.severity + "): " + p.title;
      case "advisory_published": return "Advisory published (" + p.severity + "): " + p.title;
      case "advisory_dismissed": return "Advisory dismissed: " + p.title;
      case "advisory_merged": return "Advisories merged: " + p.title;
      case "advisory_source_added": return "Another source for: " + p.title;
      case "handoff": return "Lead handed " + (p.from ? "from " + p.from + " " : "") + "to " + p.to + " by " + p.by + (p.notes ? " – " + p.notes : "");
      case "survey": return "Survey of " + p.site + " " + p.status + " (by " + p.by + ")";
      case "request": return "Client request (" + p.priority + "): " + p.subject;
      case "request_acknowledged": return "Request acknowledged: " + p.subject;
      case "request_answered": return "Request answered: " + p.subject;
      case "request_overdue": return "Urgent request waiting too long: " + p.subject;
      case "team_message": return "Message from " + p.from + ": " + p.body;
      case "team_message_receipt": return p.name + " " + p.changed[p.changed.length - 1] + " a message (" + p.summary.text + ")";
      case "team_message_texted": return "Message sent again by text to " + p.texted.join(", ") + " (by " + p.by + ")";
      default: return ev.kind.startsWith("escalation_") ? window.OM.describeEscalation(ev) : ev.kind;
    }
  }

  function renderTimeline() {
    const list = document.getElementById("timeline");
    if (!list) return;
    const tz = details.get(config.detail_id)?.timezone || "UTC";
    list.replaceChildren(...timeline.slice().reverse().slice(0, 200).map((ev) =>
      el("li", { "data-event": ev.id }, el("span", { class: "muted small" }, localTime(ev.created_at, tz) + " "), describe(ev))));
  }

  // ---- map ------------------------------------------------------------------------------

  function drawMap() {
    if (!config.detail_id || typeof L === "undefined") return;
    const detail = details.get(config.detail_id);
    if (!detail) return;
    const bounds = detail.sites.map((site) => [site.latitude, site.longitude]);
    if (!map) {
      map = L.map("map");
      // Tiles are decoration: venues, routes and agents are vector layers and draw without them.
      L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: 19 }).addTo(map);
      // The view first: layers then draw as they are added. Later redraws keep the coordinator's view.
      if (bounds.length) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15 });
      else map.setView([51.5, -0.12], 10);
      plan = L.layerGroup().addTo(map);
    }
    // Drawn again after every reload of the state (a reconnect, a visit removed or put back).
    plan.clearLayers();
    for (const site of detail.sites) {
      L.circle([site.latitude, site.longitude], { radius: site.radius_m, color: "#1e5aa8" }).addTo(plan)
        // Names are text, never markup: Leaflet puts a string tooltip in innerHTML.
        .bindTooltip(el("span", null, site.name), { permanent: true, direction: "top" });
    }
    for (const m of detail.movements) L.polyline(m.path, { color: "#8e24aa", dashArray: "6 6" }).addTo(plan);
    const onDetail = new Set(detail.agents.map((a) => a.agent_id));
    for (const [agentId, marker] of agentMarkers) {
      if (!onDetail.has(agentId)) { marker.remove(); agentMarkers.delete(agentId); }
    }
    for (const agent of detail.agents) if (agent.position) placeAgent(agent.agent_id, agent.call_sign, agent.position);
  }

  function placeAgent(agentId, callSign, position) {
    if (!map) return;
    const at = [position.latitude, position.longitude];
    let marker = agentMarkers.get(agentId);
    if (!marker) {
      marker = L.circleMarker(at, { radius: 8, color: "#14202e", fillColor: "#ffca28", fillOpacity: 1 })
        .bindTooltip(el("span", null, callSign), { permanent: true, direction: "right", className: "agent-label" })
        .addTo(map);
      agentMarkers.set(agentId, marker);
    } else marker.setLatLng(at);
  }

  // ---- events ---------------------------------------------------------------------------

  function findAgent(detailId, agentId) {
    const detail = details.get(detailId);
    return detail ? detail.agents.find((a) => a.agent_id === agentId) : null;
  }

  function apply(ev) {
    if (seen.has(ev.id)) return false;
    seen.add(ev.id);
    const p = ev.payload;
    if (ev.kind === "status") {
      const agent = findAgent(ev.detail_id, p.agent_id);
      // A late upload of an older report never hides a newer one.
      if (agent && (!agent.status || agent.status.reported_at <= p.reported_at)) agent.status = p;
      if (agent && AT_VENUE.includes(p.code.signal) && (!agent.on_station_at || Date.parse(p.reported_at) < Date.parse(agent.on_station_at))) {
        arrived(agent, p.reported_at);
      }
      if (agent && p.latitude !== null) {
        agent.position = { ...agent.position, latitude: p.latitude, longitude: p.longitude, reported_at: p.reported_at };
        placeAgent(p.agent_id, p.call_sign, agent.position);
      }
    } else if (ev.kind.startsWith("alert")) {
      alerts.set(p.alert_id, { ...p, escalation: p.escalation || alerts.get(p.alert_id)?.escalation });
    } else if (ev.kind.startsWith("escalation_")) {
      if (p.alert_id && alerts.has(p.alert_id)) alerts.get(p.alert_id).escalation = p;
    } else if (ev.kind.startsWith("advisory")) {
      applyAdvisory(ev);
    } else if (ev.kind.startsWith("request")) {
      if (p.state === "new") requests.set(p.request_id, p); else requests.delete(p.request_id);
    } else if (ev.kind === "survey") {
      const detail = details.get(ev.detail_id);
      const row = detail && (detail.surveys || []).find((s) => s.site === p.site);
      if (row) { row.status = p.status; row.survey_id = p.survey_id; }
    } else if (ev.kind === "detail_state") {
      const detail = details.get(ev.detail_id);
      if (detail) detail.state = p.state;
    } else if (ev.kind.startsWith("itinerary_") && details.has(ev.detail_id)) {
      reloadSoon(); // a visit, movement or assignment went or came back: its venues and team changed
    }
    if (config.detail_id && ev.detail_id === config.detail_id) {
      timeline.push(ev);
      timeline.sort((a, b) => a.id - b.id);
    }
    return true;
  }

  let reloadTimer = null;
  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load().catch(() => {}), 300);
  }

  function applyAll(events) {
    let changed = false;
    for (const ev of events) changed = apply(ev) || changed;
    if (changed) { renderDetails(); renderAlerts(); renderRequests(); renderTimeline(); }
  }

  function load() {
    const sentAt = Date.now();
    return fetch(config.state_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error("board state: " + r.status); return r.json(); })
      .then((state) => {
        setClock(state.server_now, sentAt, Date.now());
        syncedId = Math.max(syncedId, state.last_event_id);
        const list = state.detail ? [state.detail] : state.details;
        list.forEach((d) => window.OM.learnZoneLabels(d.zone_labels));
        details = new Map(list.map((d) => [d.id, d]));
        alerts = new Map((state.alerts || (state.detail ? state.detail.alerts : [])).map((a) => [a.alert_id, a]));
        requests = new Map((state.requests || []).map((r) => [r.request_id, r]));
        if (state.timeline) { timeline = state.timeline; state.timeline.forEach((ev) => seen.add(ev.id)); }
        renderDetails(); renderAlerts(); renderRequests(); renderTimeline(); drawMap();
      });
  }

  // Everything after syncedId, page by page; events already applied live are skipped by id.
  function catchUp(socket) {
    socket.emit("catch_up", { after: syncedId, detail_id: config.detail_id }, (reply) => {
      if (!reply || !reply.ok) return;
      applyAll(reply.events);
      if (reply.events.length) syncedId = Math.max(syncedId, reply.events[reply.events.length - 1].id);
      if (reply.events.length >= CATCH_UP_PAGE) catchUp(socket);
    });
  }

  function connect() {
    const socket = io("/board", { transports: ["websocket"] });
    socket.on("connect", () => {
      setConnection("live", "live");
      const room = config.detail_id ? { detail_id: config.detail_id } : {};
      socket.emit("join", room, (ack) => {
        if (!ack || !ack.ok) { setConnection("offline", ack ? ack.error : "join refused"); return; }
        catchUp(socket);
      });
    });
    socket.on("event", (ev) => applyAll([ev]));
    // Pushes are notifications, the event log is the truth: a message lost between processes
    // (the queue restarting, say) while this socket stayed up is fetched here within seconds.
    setInterval(() => { if (socket.connected) catchUp(socket); }, 20000);
    socket.on("position", (p) => {
      for (const detail of details.values()) {
        const agent = detail.agents.find((a) => a.agent_id === p.agent_id);
        if (agent) agent.position = p;
      }
      placeAgent(p.agent_id, p.call_sign, p);
      renderDetails();
    });
    socket.on("disconnect", () => setConnection("offline", "reconnecting…"));
    socket.on("connect_error", (err) => setConnection("offline", "offline: " + err.message));
    window.boardSocket = socket;
  }

  // Ages ("4 min ago") and mute expiry move with the clock; countdowns every second, from the first
  // paint on (which says nothing: only later changes of a row are announced).
  setInterval(() => { renderDetails(); renderAlerts(); renderRequests(); }, 30000);
  load().then(() => { setInterval(tick, 1000); connect(); }).catch((e) => setConnection("offline", e.message));
})();
