// An alarm's escalation on the board: its step, who was notified on which channel, what became of
// each message and why one failed or was skipped, and who acknowledged it. Built from the
// "escalation" of an alert's payload (detail.domain.escalation.escalation_payload); text only.
window.OM = window.OM || {};
(function () {
  "use strict";
  const el = window.OM.el;
  const STATUS = { queued: "waiting", sending: "sending", sent: "sent", delivered: "delivered", failed: "FAILED", skipped: "skipped" };

  function state(esc) {
    if (esc.acknowledged_by) return "acknowledged by " + esc.acknowledged_by + " (" + esc.acknowledged_via + ") " + esc.acknowledged_at_local;
    if (esc.ended) return "ended: " + esc.end_reason;
    if (esc.next_step !== null) return "climbing: step " + (esc.next_step + 1) + " at " + esc.next_step_at_local;
    return "every step has run; waiting for an acknowledgment";
  }

  function attempt(a) {
    const when = a.delivered_at_local || a.sent_at_local;
    return el("li", { class: "attempt attempt-" + a.status },
      "step " + (a.step + 1) + ": " + a.user + " by " + a.channel_label + ", " + STATUS[a.status] + (when ? " " + when : ""),
      a.error ? el("span", { class: "small muted" }, " (" + a.error + ")") : null);
  }

  // The escalation of an alert as a small block, or null when it has none.
  window.OM.escalationView = function escalationView(esc) {
    if (!esc) return null;
    const attempts = esc.attempts || [];
    return el("div", { class: "escalation small" },
      el("span", null, "Escalation: " + state(esc)),
      attempts.length ? el("ul", { class: "attempts" }, attempts.map(attempt)) : null);
  };

  // What the timeline says of an escalation event.
  window.OM.describeEscalation = function describeEscalation(ev) {
    const p = ev.payload;
    switch (ev.kind) {
      case "escalation_started": return "Escalation started: " + p.title;
      case "escalation_attempt": {
        const changed = new Set(p.changed || []);
        const shown = (p.attempts || []).filter((a) => !changed.size || changed.has(a.id));
        return "Escalation: " + (shown.length ? shown.map((a) => a.user + " by " + a.channel_label + " " + STATUS[a.status]).join("; ") : p.title);
      }
      case "escalation_acknowledged": return "Escalation acknowledged by " + p.acknowledged_by + " (" + p.acknowledged_via + "): " + p.title;
      case "escalation_ended": return "Escalation ended (" + p.end_reason + "): " + p.title;
      default: return ev.kind;
    }
  };
})();
