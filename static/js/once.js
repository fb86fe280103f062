// A form marked data-submit-once sends once: a second click while the first is on its way does
// nothing (the server refuses a second answer as well; this spares the coordinator the message).
(function () {
  "use strict";
  document.querySelectorAll("form[data-submit-once]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "yes";
      form.setAttribute("aria-busy", "true");
      // Disabled only after this event: a button disabled now would not send its own name and value.
      setTimeout(() => form.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = true; }), 0);
    });
  });
  // Back to a page kept in the browser's cache: its forms can be sent again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submit-once]").forEach((form) => {
      delete form.dataset.sent;
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = false; });
    });
  });
})();
