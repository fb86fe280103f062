// An alarm's escalation on the board: its step, who was notified on which channel, what became of
// each message and why one failed or was skipped, and who acknowledged it. Built from the
// "escalation" of an alert's payload (detail.domain.escalation.escalation_payload); text only.
window.OM = window.OM || {};
(function () {
  "use strict";
  const el = window.OM.el;
  const STATUS = { queued: "waiting", sending: "sending", sent: "sent", delivered: "delivered", failed: "FAILED", skipped: "skipped" };

  // Every time shown here comes labelled by the server (detail/domain/timefmt.py: "08:01 GMT"), in the
  // organisation's zone, never the browser's.
  function climb(esc) {
    const at = esc.step_number
      ? "Step " + esc.step_number + " of " + esc.steps_total + ": " + esc.step_target + " notified " + (esc.step_at_local || "")
      : "Step 0 of " + esc.steps_total + ": nobody notified yet";
    if (esc.paused) return at + "; paused (muted until " + esc.paused_until_local + ")";
    if (esc.next_target) return at + ", next: " + esc.next_target + " at " + esc.next_step_at_local;
    return at + "; every step has run, waiting for an acknowledgment";
  }

  function state(esc) {
    if (esc.acknowledged_by) return "acknowledged by " + esc.acknowledged_by + " (" + esc.acknowledged_via + ") " + esc.acknowledged_at_local;
    if (esc.ended) return "ended: " + esc.end_reason;
    return climb(esc);
  }

  function onCall(esc) {
    const oc = esc.on_call;
    if (!oc) return null;
    const names = [];
    if (oc.primary) names.push(oc.primary + " (primary)");
    if (oc.backup) names.push(oc.backup + " (backup)");
    return el("span", { class: "on-call" }, "On call: " + (names.length ? names.join(", ") : "nobody: steps for the on-call go to every coordinator"));
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
      el("span", { class: "climb" }, "Escalation: " + state(esc)),
      onCall(esc),
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
      case "escalation_paused": return "Escalation paused (muted until " + p.paused_until_local + "): " + p.title;
      case "escalation_resumed": return "Escalation resumed: " + p.title;
      case "escalation_policy_changed": return "Escalation follows the policy as " + p.changed_by + " changed it: " + p.title;
      default: return ev.kind;
    }
  };
})();
