// The survey form keeps a draft on the phone: every change is saved locally, so a form filled in a
// basement with no signal survives a reload, and a save that cannot reach the server keeps it.
(function () {
  "use strict";
  const form = document.getElementById("survey-form");
  if (!form) return;
  const key = form.dataset.draftKey;
  const serverUpdated = Date.parse(form.dataset.updatedAt);
  const note = document.getElementById("draft-note");
  // Not form.action: the buttons are named "action", which shadows the property.
  const target = form.getAttribute("action");
  const fields = () => [...form.elements].filter((f) => f.name && f.type !== "hidden" && f.type !== "submit");

  function show(text) { note.textContent = text; note.hidden = false; }

  function saveDraft() {
    const values = {};
    fields().forEach((f) => { values[f.name] = f.value; });
    localStorage.setItem(key, JSON.stringify({ savedAt: Date.now(), values }));
  }

  // A draft newer than what the server holds was not sent: put it back.
  try {
    const draft = JSON.parse(localStorage.getItem(key) || "null");
    if (draft && draft.savedAt > serverUpdated) {
      fields().forEach((f) => { if (f.name in draft.values) f.value = draft.values[f.name]; });
      show("Restored your unsent draft from " + new Date(draft.savedAt).toLocaleTimeString() + ". Save it when you have signal.");
    } else if (draft) {
      localStorage.removeItem(key);
    }
  } catch (e) { localStorage.removeItem(key); }

  form.addEventListener("input", saveDraft);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveDraft();
    const data = new FormData(form);
    if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
    // A saved form redirects back to this page: follow it by hand so its flash message shows there.
    fetch(target, { method: "POST", body: data, credentials: "same-origin", redirect: "manual" })
      .then((response) => {
        if (response.type === "opaqueredirect" || response.ok) {
          localStorage.removeItem(key);
          window.location.href = target;
          return;
        }
        // Refused (a field to correct): show the server's page with its messages; the draft stays.
        return response.text().then((html) => { document.open(); document.write(html); document.close(); });
      })
      .catch(() => show("No signal: your draft is kept on this phone. Save again when you are back online."));
  });
})();
