// The phone's team messages: the coordinators' messages to this agent, readable without signal
// (kept in localStorage, like the status queue), a tap to open one marks it read, one tap on
// Acknowledge acknowledges it, and a message to the coordinators can be written here.
//
// What the phone does is queued first and sent in order until the server has it, as phone.js does
// with statuses: a receipt is kept once per (message, kind), so a double tap or a tap while offline
// is sent once; the server records each receipt once whatever it is sent again. A message sent from
// here carries its own client_id, so a retry after a lost answer is stored once.
(function () {
  "use strict";
  const root = document.getElementById("messages");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const config = JSON.parse(document.getElementById("phone-config").textContent);
  const listUrl = root.dataset.url;
  const LIST_KEY = "om-messages-" + config.user_id;
  const QUEUE_KEY = "om-message-queue-" + config.user_id;
  const el = window.OM.el;
  let messages = JSON.parse(localStorage.getItem(LIST_KEY) || "[]");
  let queue = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
  let sending = false;
  let retryDelay = 1000;
  const opened = new Set(); // messages open on screen: they stay open across redraws

  const newId = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

  function save() {
    localStorage.setItem(LIST_KEY, JSON.stringify(messages.slice(0, 100)));
    localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
  }

  const clock = (iso, tz) => {
    try {
      return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: tz || undefined,
        timeZoneName: "short" }).format(new Date(iso));
    } catch (e) { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  };

  // ---- receipts: marked at once on the phone, queued for the server -----------------------------

  function queued(id, what) { return queue.some((q) => q.receipt && q.id === id && q.what === what); }

  function markId(id, what) {
    const message = messages.find((m) => m.id === id);
    if (message) mark(message, what);
  }

  function mark(message, what) {
    const field = { delivered: "delivered_at", read: "read_at", acknowledged: "acknowledged_at" }[what];
    if (message.mine || !message.receipt || message.receipt[field] || queued(message.id, what)) return;
    const at = new Date().toISOString();
    message.receipt[field] = at;
    if (what !== "delivered" && !message.receipt.delivered_at) message.receipt.delivered_at = at;
    if (what === "acknowledged" && !message.receipt.read_at) message.receipt.read_at = at;
    const path = { delivered: "delivered", read: "read", acknowledged: "acknowledge" }[what];
    queue.push({ receipt: true, id: message.id, what, url: listUrl + message.id + "/" + path,
      body: what === "delivered" ? { via: "socket" } : { at } });
    save();
    render();
    flush();
  }

  // ---- writing to the coordinators -------------------------------------------------------------

  const text = el("textarea", { id: "message-text", name: "body", rows: "3", maxlength: "1000" });
  const askAck = el("input", { type: "checkbox", id: "message-ask-ack" });
  const status = el("p", { class: "send-state", role: "status" });
  const form = el("form", { class: "message-form", id: "message-compose" },
    el("label", { for: "message-text" }, "Message to the coordinators"), text,
    el("label", { class: "check" }, askAck, " Ask them to acknowledge"),
    el("button", { type: "submit" }, "Send to coordinators"), status);
  const list = el("ol", { class: "message-list", id: "message-list" });
  root.append(list, form);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) { status.textContent = "Write the message first."; text.focus(); return; }
    const detail = (JSON.parse(localStorage.getItem("om-state-" + config.user_id) || "null") || { assignments: [] }).assignments[0];
    const payload = { body, client_id: newId(), asks_ack: askAck.checked };
    if (detail) payload.detail_id = detail.detail_id;
    queue.push({ send: true, url: listUrl, body: payload });
    messages.unshift({ id: "local-" + payload.client_id, client_id: payload.client_id, mine: true, from: "me",
      body, asks_ack: askAck.checked, created_at: new Date().toISOString(), created_at_local: "", receipt: null, pending: true });
    text.value = "";
    askAck.checked = false;
    save();
    render();
    flush();
  });

  // ---- the list --------------------------------------------------------------------------------

  function line(m) {
    const r = m.receipt || {};
    const when = m.created_at_local || clock(m.created_at, m.timezone);
    const unread = !m.mine && !r.read_at;
    const details = el("details", { "data-message": m.id, open: opened.has(m.id) },
      el("summary", null, (m.mine ? "To the coordinators" : "From " + m.from) + " · " + when + (unread ? " · new" : "")),
      el("p", { class: "prewrap" }, m.body),
      m.pending ? el("p", { class: "small muted" }, navigator.onLine ? "sending…" : "queued – sends when online") : null,
      !m.mine && m.asks_ack && !r.acknowledged_at
        ? el("button", { type: "button", class: "primary", "data-acknowledge": m.id, onclick: () => markId(m.id, "acknowledged") }, "Acknowledge")
        : null,
      !m.mine && m.asks_ack && r.acknowledged_at
        ? el("p", { class: "small badge badge-sent" }, "Acknowledged " + clock(r.acknowledged_at, m.timezone) +
          (queued(m.id, "acknowledged") ? " – queued, sends when online" : ""))
        : null);
    details.addEventListener("toggle", () => {
      if (details.open) { opened.add(m.id); markId(m.id, "read"); } else opened.delete(m.id);
    });
    if (m.id === Number((location.hash.match(/^#message-(\d+)$/) || [])[1])) details.open = true;
    return el("li", { class: "message" + (unread ? " unread" : ""), id: "message-" + m.id }, details);
  }

  function render() {
    window.OM.keepFocus([list], () => {
      window.OM.replaceIfChanged(list, messages.length ? messages.map(line) : [el("li", { class: "small muted" }, "No messages.")]);
    }, () => list.querySelector("summary") || text);
  }

  // A message from the server replaces the phone's copy, keeping what the phone did and has not yet sent.
  function merge(fresh) {
    const local = new Map(messages.map((m) => [m.id, m]));
    const pending = messages.filter((m) => m.pending && !fresh.some((f) => f.mine && f.client_id === m.client_id));
    messages = pending.concat(fresh.map((m) => {
      const mine = local.get(m.id);
      if (mine && mine.receipt && m.receipt) {
        for (const key of ["delivered_at", "read_at", "acknowledged_at"]) m.receipt[key] = m.receipt[key] || mine.receipt[key];
      }
      return m;
    }));
    save();
    render();
    for (const m of messages) if (!m.mine && m.receipt && !m.receipt.delivered_at) mark(m, "delivered");
  }

  function load() {
    return fetch(listUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => merge(data.messages.map((m) => ({ ...m, client_id: m.mine ? m.client_id : undefined }))))
      .catch(() => render());
  }

  // ---- sending the queue, in order, until the server has each ----------------------------------

  async function flush() {
    if (sending || !queue.length) return;
    sending = true;
    try {
      while (queue.length) {
        const item = queue[0];
        let response;
        try {
          response = await fetch(item.url, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
            body: JSON.stringify(item.body),
          });
        } catch (e) { retry(); return; }
        if (response.redirected || [401, 408, 429].includes(response.status) || response.status >= 500 ||
            (response.status === 400 && /CSRF/i.test(((await response.clone().json().catch(() => ({}))).message) || ""))) {
          retry();
          return;
        }
        queue.shift();
        retryDelay = 1000;
        const data = await response.json().catch(() => ({}));
        if (item.send) {
          messages = messages.filter((m) => m.client_id !== item.body.client_id || !m.pending);
          if (response.ok) messages.unshift({ ...data, client_id: item.body.client_id });
          else status.textContent = "Not sent: " + (data.message || response.statusText);
        }
        save();
        render();
      }
    } finally {
      sending = false;
    }
  }

  function retry() {
    retryDelay = Math.min(retryDelay * 2, 30000);
    setTimeout(flush, retryDelay);
    render();
  }

  // ---- live: phone.js's socket brings the messages sent to this phone --------------------------

  function follow() {
    const socket = window.OM.phoneSocket;
    if (!socket) { if (typeof io !== "undefined") setTimeout(follow, 250); return; }
    socket.on("event", (ev) => {
      if (ev.kind === "team_message") {
        const m = { ...ev.payload, mine: ev.payload.from_user_id === config.user_id };
        if (!messages.some((x) => x.id === m.id)) messages.unshift(m);
        save();
        render();
        mark(m, "delivered");
      } else if (ev.kind === "team_message_receipt") {
        const m = messages.find((x) => x.id === ev.payload.message_id);
        if (m && m.receipt) Object.assign(m.receipt, Object.fromEntries(Object.entries(ev.payload.receipt).filter(([, v]) => v)));
        save();
        render();
      }
    });
    socket.on("connect", () => load().then(flush));
  }

  window.addEventListener("online", () => { render(); flush(); });
  window.addEventListener("offline", render);
  setInterval(flush, 30000);
  render();
  load().then(flush);
  follow();
})();
