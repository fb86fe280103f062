// The board's team messages: write to a detail's agents, to some agents or to one (asking for
// acknowledgment or not), and follow each message's receipts live ("3 of 4 acknowledged" and who
// has not). Those who have not acknowledged can be sent the message again by text, after a
// confirmation in the page. Text always goes in as text (window.OM.el), never as markup.
(function () {
  "use strict";
  const panel = document.getElementById("messages");
  if (!panel) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const listUrl = panel.dataset.url;
  const detailId = panel.dataset.detail ? Number(panel.dataset.detail) : null;
  const el = window.OM.el;
  let messages = [];
  let addressees = { details: [], agents: [] };
  let draftId = null; // the retry key of the message being sent: the same for every retry of one send
  let sending = false;
  const texting = new Set(); // messages whose "send again by text" is on its way

  const newId = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json().catch(() => ({})).then((data) => {
      if (!r.ok) throw new Error(data.message || r.statusText);
      return data;
    }));
  }

  // Labelled as the rest of the board is (venue_time.js): "07:10 EST", never the browser's "GMT-5".
  const clock = (iso, tz) => {
    try { return window.OM.venueClock(iso, tz); } catch (e) { return iso; }
  };

  // ---- the form ------------------------------------------------------------------------------

  const status = el("p", { id: "message-state", class: "small", role: "status" });
  const to = el("select", { id: "message-to", name: "to" });
  const several = el("fieldset", { id: "message-agents", class: "message-agents", hidden: true },
    el("legend", null, "Agents"));
  const body = el("textarea", { id: "message-body", name: "body", rows: "3", maxlength: "1000", required: "required" });
  const ack = el("input", { type: "checkbox", id: "message-ack", name: "asks_ack" });
  const sendButton = el("button", { type: "submit", class: "primary" }, "Send");
  const form = el("form", { id: "message-form", class: "message-form" },
    el("label", { for: "message-to" }, "To"), to, several,
    el("label", { for: "message-body" }, "Message"), body,
    el("label", { class: "check" }, ack, " Ask each agent to acknowledge"),
    el("div", { class: "actions" }, sendButton), status);
  const list = el("ol", { id: "message-list", class: "message-list", "aria-live": "polite" });
  panel.append(form, list);

  function fillRecipients() {
    const chosen = to.value;
    const options = [];
    for (const d of addressees.details) {
      if (detailId && d.id !== detailId) continue;
      options.push(el("option", { value: "detail:" + d.id }, "All agents on " + d.name + " (" + d.agents.length + ")"));
    }
    options.push(el("option", { value: "several" }, "Several agents…"));
    for (const a of addressees.agents) options.push(el("option", { value: "agent:" + a.id }, a.call_sign + " – " + a.name));
    to.replaceChildren(...options);
    if ([...to.options].some((o) => o.value === chosen)) to.value = chosen;
    const ticked = new Set([...several.querySelectorAll("input:checked")].map((i) => i.value));
    several.replaceChildren(el("legend", null, "Agents"), ...addressees.agents.map((a) => el("label", { class: "check" },
      el("input", { type: "checkbox", name: "agent_ids", value: String(a.id), checked: ticked.has(String(a.id)) }),
      " " + a.call_sign + " – " + a.name)));
    several.hidden = to.value !== "several";
  }

  to.addEventListener("change", () => { several.hidden = to.value !== "several"; });
  body.addEventListener("input", () => { draftId = null; }); // a changed text is a new message

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (sending) return; // a double click sends once
    const text = body.value.trim();
    if (!text) { status.textContent = "Write the message first."; body.focus(); return; }
    const payload = { body: text, asks_ack: ack.checked, client_id: draftId || (draftId = newId()) };
    if (to.value.startsWith("detail:")) payload.detail_id = Number(to.value.slice(7));
    else if (to.value.startsWith("agent:")) payload.agent_ids = [Number(to.value.slice(6))];
    else {
      payload.agent_ids = [...several.querySelectorAll("input:checked")].map((i) => Number(i.value));
      if (!payload.agent_ids.length) { status.textContent = "Tick at least one agent."; return; }
    }
    if (detailId && !payload.detail_id) payload.detail_id = detailId;
    sending = true;
    sendButton.disabled = true;
    status.textContent = "Sending…";
    post(listUrl, payload)
      .then((sent) => {
        status.textContent = "Sent to " + sent.summary.recipients + (sent.summary.recipients === 1 ? " person." : " people.");
        body.value = "";
        ack.checked = false;
        draftId = null;
        upsert(sent);
        render();
      })
      .catch((e) => { status.textContent = "Not sent: " + e.message; })
      .finally(() => { sending = false; sendButton.disabled = false; });
  });

  // ---- the list ------------------------------------------------------------------------------

  function upsert(message) {
    const i = messages.findIndex((m) => m.id === message.id);
    if (i >= 0) messages[i] = message; else messages.unshift(message);
  }

  const AUDIENCE = { detail: (m) => "the agents on " + m.detail, agents: () => "agents", coordinators: () => "the coordinators" };

  function item(m) {
    const s = m.summary;
    const waiting = m.audience !== "coordinators" && s.waiting.length;
    const acknowledged = m.recipients.filter((r) => r.acknowledged_at)
      .map((r) => r.name + " " + clock(r.acknowledged_at, m.timezone));
    return el("li", { class: "message" + (waiting && m.asks_ack ? " waiting" : ""), "data-message": m.id },
      el("div", { class: "small muted" }, "From " + m.from + " to " + AUDIENCE[m.audience](m) + " · " + m.created_at_local),
      el("p", { class: "prewrap" }, m.body),
      m.audience === "coordinators" ? null : el("p", null, el("strong", { class: "message-count" }, s.text),
        waiting ? el("span", { class: "small" }, " · not yet: " + s.waiting.join(", ")) : null),
      acknowledged.length && m.asks_ack ? el("div", { class: "small muted" }, "Acknowledged: " + acknowledged.join(", ")) : null,
      waiting ? el("button", { type: "button", "data-texts": m.id, disabled: texting.has(m.id), onclick: () => textAgain(m) },
        "Send again by text to " + s.waiting.length + " not " + (m.asks_ack ? "acknowledged" : "read")) : null);
  }

  function render() {
    const shown = messages.filter((m) => !detailId || m.detail_id === detailId);
    window.OM.keepFocus([list], () => {
      window.OM.replaceIfChanged(list, shown.length ? shown.map(item) : [el("li", { class: "small muted" }, "No messages yet.")]);
    }, () => body);
  }

  function textAgain(m) {
    if (texting.has(m.id)) return;
    window.OM.confirm({
      title: "Send again by text?",
      effect: "A text with this message goes to " + m.summary.waiting.join(", ") + ", at the mobile number each has on file.",
      button: "Send texts",
      danger: false,
      returnFocus: () => list.querySelector('[data-texts="' + m.id + '"]') || body,
    }).then((yes) => {
      if (!yes || texting.has(m.id)) return;
      texting.add(m.id);
      render();
      post(listUrl + m.id + "/texts", { confirmed: true })
        .then((r) => {
          const said = [];
          if (r.texted.length) said.push("Texted " + r.texted.join(", ") + ".");
          if (r.no_number.length) said.push("No mobile number for " + r.no_number.join(", ") + ".");
          if (r.just_texted.length) said.push("Already texted a moment ago: " + r.just_texted.join(", ") + ".");
          status.textContent = said.join(" ") || "Nobody to text.";
          upsert(r.message);
        })
        .catch((e) => { status.textContent = "Texts not sent: " + e.message; })
        .finally(() => { texting.delete(m.id); render(); });
    });
  }

  function load() {
    return fetch(listUrl + (detailId ? "?detail_id=" + detailId : ""), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("messages: " + r.status))))
      .then((data) => {
        messages = data.messages;
        addressees = data.addressees || addressees;
        fillRecipients();
        render();
      })
      .catch(() => {});
  }

  // The board's own socket (board.js) brings every event; a message's or a receipt's reloads the list.
  let reloadTimer = null;
  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 150);
  }

  function follow() {
    const socket = window.boardSocket;
    if (!socket) { setTimeout(follow, 250); return; }
    socket.on("event", (ev) => { if (ev.kind && ev.kind.startsWith("team_message")) reloadSoon(); });
    socket.on("connect", reloadSoon);
  }

  load();
  follow();
})();
