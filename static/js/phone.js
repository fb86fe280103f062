// The agent's phone: one tap sends a code. Every report gets its id here, is kept in a queue in
// localStorage, and is sent in order until the server has it; the server stores each id once,
// so sending again after a lost answer is safe.
//
// Duress is covert: pressing and holding the clear button sends the duress code, and the phone
// then looks exactly as if clear had been sent.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("phone-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const QUEUE_KEY = "om-queue-" + config.user_id;
  const STATE_KEY = "om-state-" + config.user_id;
  const HOLD_MS = 2000;
  let state = JSON.parse(localStorage.getItem(STATE_KEY) || "null");
  let queue = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
  let position = null;
  let sending = false;
  let retryDelay = 1000;
  let lastPositionSent = 0;
  let signInNeeded = false;

  const el = window.OM.el;

  const newId = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  const untilText = (iso) => {
    const minutes = Math.round((new Date(iso).getTime() - Date.now()) / 60000);
    if (Math.abs(minutes) < 1) return "now";
    const text = Math.abs(minutes) >= 90 ? Math.round(Math.abs(minutes) / 60) + " h" : Math.abs(minutes) + " min";
    return minutes > 0 ? "in " + text : text + " ago";
  };

  // A tap not yet stored, at the venue's clock (the server's own label replaces this once it has it).
  function tapTime(iso) {
    const zone = (state && state.assignments.length && state.assignments[0].timezone) || undefined;
    try {
      return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone,
        timeZoneName: "short" }).format(new Date(iso));
    } catch (e) {
      return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
  }

  function save() { localStorage.setItem(QUEUE_KEY, JSON.stringify(queue.slice(-50))); }

  function setNetwork() {
    const badge = document.getElementById("network");
    const waiting = queue.filter((r) => r.state === "queued").length;
    badge.textContent = (navigator.onLine ? "online" : "offline") + (waiting ? " · " + waiting + " queued" : "");
    badge.className = "badge " + (navigator.onLine && !waiting ? "badge-sent" : "badge-queued");
  }

  // ---- rendering ------------------------------------------------------------------------

  function currentCode() {
    // The newest report this phone made wins over the server's view until the server has it.
    const mine = queue.filter((r) => r.state !== "refused");
    if (mine.length) return mine[mine.length - 1].shown;
    const first = (state && state.assignments.find((a) => a.current_code)) || null;
    return first ? first.current_code : null;
  }

  let drawnCodes = null;

  function renderCodes() {
    const root = document.getElementById("codes");
    if (!state) { root.replaceChildren(el("p", { class: "muted" }, "Loading codes…")); return; }
    const current = currentCode();
    // Buttons are built once per set of codes and only restyled after: rebuilding one under a
    // finger that is still pressing would turn the end of a press into a tap on the new button.
    const signature = JSON.stringify(state.codes) + state.cover_code;
    if (signature !== drawnCodes) {
      drawnCodes = signature;
      root.replaceChildren(...state.codes.map((code) => {
        const button = el("button", { type: "button", style: "background:" + code.colour + ";color:" + code.text_colour, "data-code": code.code },
          code.code, el("small", null, code.spoken_name));
        if (code.code === state.cover_code) holdForDuress(button, code.code);
        else button.addEventListener("click", () => send(code.code, false));
        return button;
      }));
    }
    for (const button of root.querySelectorAll("button[data-code]")) {
      const on = button.dataset.code === current;
      button.classList.toggle("current", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  function holdForDuress(button, code) {
    let timer = null;
    let pressed = false;
    let held = false;
    const start = (event) => {
      pressed = true;
      held = false;
      timer = setTimeout(() => { held = true; send(code, true); }, HOLD_MS);
      if (event.pointerType === "touch") event.preventDefault();
    };
    const end = () => {
      if (timer) clearTimeout(timer);
      if (pressed && !held) send(code, false);
      timer = null;
      pressed = false;
      held = false;
    };
    const cancel = () => { if (timer) clearTimeout(timer); timer = null; pressed = false; held = false; };
    button.addEventListener("pointerdown", start);
    button.addEventListener("pointerup", end);
    button.addEventListener("pointerleave", cancel);
    button.addEventListener("pointercancel", cancel);
    button.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); send(code, false); } });
    button.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  function renderAssignments() {
    const root = document.getElementById("assignments");
    if (!state) return;
    if (!state.assignments.length) { root.replaceChildren(el("li", { class: "muted" }, "No current or upcoming assignments.")); return; }
    root.replaceChildren(...state.assignments.map((a) => el("li", { class: "card" },
      el("h2", null, a.detail),
      el("p", null, el("strong", null, a.role), a.site ? " at " + a.site : ""),
      el("p", null, "Report " + a.report_at_local + " (" + untilText(a.report_at) + ")"),
      a.address ? el("p", { class: "muted small" }, a.address) : null,
      a.is_lead ? leadButtons(a) : null,
      a.handoff ? el("div", { class: "intel-list" }, el("strong", null, "Handed to you" + (a.handoff.from ? " by " + a.handoff.from : "")),
        el("div", { class: "small prewrap" }, a.handoff.notes)) : null,
      a.file_url ? el("p", null, el("a", { href: a.file_url }, "Detail file")) : null,
      a.handoff_url ? el("p", null, el("a", { href: a.handoff_url }, "Hand off the lead")) : null,
      a.surveys_url ? el("p", null, el("a", { href: a.surveys_url }, "Site surveys"), " ",
        ...(a.surveys || []).map((s) => el("span", { class: "badge survey-" + s.status }, s.site + ": " + s.status))) : null,
      ...(a.surveys || []).filter((s) => s.status === "approved").map((s) => el("p", { class: "small" },
        el("a", { href: s.url }, s.site), ": safe room " + (s.safe_room || "—") + " · hospital " + (s.hospital || "—") +
        (s.radio_channel ? " · radio " + s.radio_channel : ""))),
      (a.bolos || []).length ? el("ul", { class: "intel-list" }, a.bolos.map((b) => el("li", null,
        el("strong", null, "BOLO"), el("div", { class: "small prewrap" }, b.summary)))) : null,
      (a.advisories || []).length ? el("ul", { class: "intel-list" }, a.advisories.map((adv) => el("li", null,
        el("span", { class: "severity sev-" + adv.severity }, adv.severity), " ", el("strong", null, adv.title),
        el("div", { class: "small" }, adv.summary),
        adv.recommendation ? el("div", { class: "small" }, "Recommendation: " + adv.recommendation) : null,
        el("div", { class: "small muted" }, adv.reason)))) : null)));
  }

  // The lead's state controls, laid out as the board's: each state in a place of its own, a move's
  // button in the place of the state it moves to (never the next button where the last one was).
  // Each move asks first, names the state it leaves and is sent once.
  const STATES = ["planned", "hot", "complete"];
  const moving = new Set();

  function leadButtons(a) {
    const moves = (config.moves || []).filter((m) => m.from === a.detail_state);
    if (!moves.length) return null;
    return el("div", { class: "state-steps", role: "group", "aria-label": "State of " + a.detail },
      STATES.map((state) => {
        const move = moves.find((m) => m.to === state);
        let inner;
        if (state === a.detail_state) {
          inner = el("span", { class: "step-current", "aria-current": "step", tabindex: "-1", "data-current": a.detail_id },
            el("span", { class: "state state-" + state }, state), " now");
        } else if (move) {
          inner = el("button", {
            type: "button", class: state === "planned" ? "" : "danger", "data-move": a.detail_id + ":" + state,
            disabled: moving.has(a.detail_id), onclick: () => askToMove(a, move),
          }, move.label);
        } else {
          inner = el("span", { class: "step-other muted" }, state);
        }
        return el("div", { class: "step step-" + state }, inner);
      }));
  }

  function askToMove(a, move) {
    if (moving.has(a.detail_id)) return;
    const find = (selector) => document.querySelector(selector);
    window.OM.confirm({
      title: move.label + ": " + a.detail + "?",
      effect: move.effect,
      button: move.label,
      danger: move.to !== "planned",
      returnFocus: () => find('[data-move="' + a.detail_id + ":" + move.to + '"]') || find('[data-current="' + a.detail_id + '"]'),
    }).then((yes) => {
      if (!yes || moving.has(a.detail_id)) return;
      moving.add(a.detail_id);
      renderAssignments();
      fetch(config.state_change_url + a.detail_id + "/state", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify({ state: move.to, from_state: move.from, confirmed: true }),
      }).catch(() => null).then(() => { moving.delete(a.detail_id); return refresh(); });
    });
  }

  function renderQueue() {
    const root = document.getElementById("queue");
    root.replaceChildren(...queue.slice().reverse().slice(0, 15).map((r) => el("li", null,
      el("span", null, r.shown + " · " + (r.at || tapTime(r.body.reported_at))),
      el("span", { class: "badge badge-" + r.state, title: r.error || "" }, r.state === "refused" ? "refused: " + r.error : r.state))));
    document.getElementById("last").textContent = sendState();
    setNetwork();
  }

  // The line under the buttons: what became of the newest tap ("OS queued – sends when online").
  function sendState() {
    const newest = queue[queue.length - 1];
    if (!newest) return "";
    const waiting = queue.filter((r) => r.state === "queued").length;
    const more = waiting > 1 ? " (" + waiting + " waiting)" : "";
    if (newest.state === "queued") {
      if (signInNeeded) return newest.shown + " queued – sign in again; it is kept and sent after" + more;
      return newest.shown + " queued – " + (navigator.onLine ? "sending" : "sends when online") + more;
    }
    if (newest.state === "refused") return newest.shown + " refused: " + newest.error;
    return newest.shown + " sent";
  }

  function render() { renderCodes(); renderAssignments(); renderQueue(); }

  // ---- sending --------------------------------------------------------------------------

  function send(code, duress) {
    const body = { client_id: newId(), reported_at: new Date().toISOString() };
    if (duress) body.duress = true; else body.code = code;
    if (position) Object.assign(body, position);
    queue.push({ body, shown: code, state: "queued" });
    save();
    if (navigator.vibrate) navigator.vibrate(60);
    render();
    flush();
  }

  async function flush() {
    if (sending) return;
    sending = true;
    try {
      for (const report of queue) {
        if (report.state !== "queued") continue;
        let response;
        try {
          response = await fetch(config.status_url, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
            body: JSON.stringify(report.body),
          });
        } catch (e) {
          scheduleRetry();
          return;
        }
        if (response.ok && !response.redirected) {
          report.state = "sent";
          report.at = ((await response.clone().json().catch(() => ({}))).reported_at_local) || null;
          signInNeeded = false;
          retryDelay = 1000;
        } else if (response.status >= 500 || response.status === 429 || response.status === 408) {
          scheduleRetry();
          return;
        } else if (response.redirected || response.status === 401 || (response.status === 400 &&
            /CSRF/i.test(((await response.clone().json().catch(() => ({}))).message) || ""))) {
          // Signed out or the page is stale (CSRF): keep the report and ask for a sign-in.
          signInNeeded = true;
          scheduleRetry();
          return;
        } else {
          const data = await response.json().catch(() => ({}));
          report.state = "refused";
          report.error = data.message || response.statusText;
        }
        save();
        renderQueue();
      }
    } finally {
      sending = false;
      save();
      render();
    }
  }

  function scheduleRetry() {
    retryDelay = Math.min(retryDelay * 2, 30000);
    setTimeout(flush, retryDelay);
    renderQueue();
  }

  // ---- position -------------------------------------------------------------------------

  function watchPosition() {
    if (!navigator.geolocation) return;
    navigator.geolocation.watchPosition((fix) => {
      position = { latitude: fix.coords.latitude, longitude: fix.coords.longitude, accuracy: fix.coords.accuracy };
      document.getElementById("gps").textContent = "±" + Math.round(fix.coords.accuracy) + " m";
      if (Date.now() - lastPositionSent > 30000 && navigator.onLine) {
        lastPositionSent = Date.now();
        fetch(config.position_url, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
          body: JSON.stringify({ ...position, reported_at: new Date(fix.timestamp).toISOString() }),
        }).catch(() => {});
      }
    }, () => { document.getElementById("gps").textContent = "no position"; },
    { enableHighAccuracy: true, maximumAge: 15000, timeout: 20000 });
  }

  function refresh() {
    return fetch(config.state_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => { state = data; localStorage.setItem(STATE_KEY, JSON.stringify(data)); render(); })
      .catch(() => render());
  }

  // Published intel and a detail going hot reach the phone at once; the page then reloads its state.
  function listen() {
    if (typeof io === "undefined") return;
    const socket = io("/phone", { transports: ["websocket"] });
    window.OM.phoneSocket = socket; // phone-messages.js hears its messages on it
    socket.on("event", () => refresh());
    socket.on("rooms", () => refresh()); // taken off a detail, or put on one: reload the assignments
    socket.on("connect", () => refresh());
  }

  window.addEventListener("online", () => { renderQueue(); flush(); });
  window.addEventListener("offline", renderQueue);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register(config.sw_url, { scope: "/phone/" }).catch(() => {});
  setInterval(() => { renderAssignments(); flush(); }, 30000);
  render();
  refresh().then(flush);
  watchPosition();
  listen();
})();
