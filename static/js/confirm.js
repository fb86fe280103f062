// Confirmation in the page for changes that cannot be taken back by a slip, and one submission per click.
//
// - OM.confirm({title, effect, button, danger, returnFocus}) opens a modal <dialog> labelled by its
//   heading and described by what will happen; it resolves true when confirmed, false when cancelled
//   (Cancel, Escape). Focus starts on Cancel, the safe choice, and goes back to the invoking button
//   (or what returnFocus() finds, when the page has redrawn that button) when the dialog closes.
// - A form with data-confirm-title asks first, then posts with confirmed=1: the server asks again,
//   on a page of its own, when a form arrives without it (no JavaScript), so this is a convenience.
// - A form with data-once is sent once: its buttons are disabled as it goes, and a second submit
//   (a double click, Enter held down) is dropped.
// The confirm button is armed a moment after the dialog opens, and clicks on the page are dropped for
// as long after it closes: the second click of a double click must not land on the dialog's button,
// nor on whatever the page has under it. Text always goes in as text, never markup.
window.OM = window.OM || {};
(function () {
  "use strict";
  const ARM_AFTER_MS = 400;
  let dialog = null;
  let pending = null; // {resolve, returnFocus, confirmed}
  let quietUntil = 0; // the rest of a double click on the dialog's buttons lands on the page: dropped

  for (const kind of ["mousedown", "click", "dblclick"]) {
    document.addEventListener(kind, (event) => {
      if (Date.now() < quietUntil && !(dialog && dialog.open)) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);
  }

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.id = "om-confirm";
    dialog.setAttribute("aria-labelledby", "om-confirm-title");
    dialog.setAttribute("aria-describedby", "om-confirm-effect");
    const title = document.createElement("h2");
    title.id = "om-confirm-title";
    const effect = document.createElement("p");
    effect.id = "om-confirm-effect";
    const actions = document.createElement("div");
    actions.className = "actions";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "confirm-cancel";
    cancel.textContent = "Cancel";
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "confirm-ok";
    actions.append(cancel, ok);
    dialog.append(title, effect, actions);
    document.body.append(dialog);
    const quietAfter = () => { quietUntil = Date.now() + ARM_AFTER_MS; };
    cancel.addEventListener("click", () => { quietAfter(); dialog.close(); });
    ok.addEventListener("click", () => {
      if (ok.disabled || !pending) return;
      pending.confirmed = true;
      quietAfter();
      dialog.close();
    });
    // The rest of a double click that opened the dialog must not move focus off Cancel either.
    dialog.addEventListener("mousedown", (event) => {
      if (ok.disabled && event.target !== cancel) event.preventDefault();
    });
    // Escape fires "cancel" and closes the dialog; every way out ends in "close".
    dialog.addEventListener("close", () => {
      const done = pending;
      pending = null;
      if (!done) return;
      const target = (done.returnFocus && done.returnFocus()) || done.opener;
      if (target && target.isConnected && typeof target.focus === "function") target.focus();
      done.resolve(done.confirmed);
    });
  }

  window.OM.confirm = function confirmInPage(options) {
    if (!dialog) build();
    if (pending) return Promise.resolve(false); // one question at a time
    const ok = dialog.querySelector(".confirm-ok");
    dialog.querySelector("#om-confirm-title").textContent = options.title;
    dialog.querySelector("#om-confirm-effect").textContent = options.effect || "";
    ok.textContent = options.button || "Confirm";
    ok.className = "confirm-ok" + (options.danger === false ? " primary" : " danger");
    ok.disabled = true;
    return new Promise((resolve) => {
      pending = { resolve, returnFocus: options.returnFocus, opener: document.activeElement, confirmed: false };
      dialog.showModal();
      dialog.querySelector(".confirm-cancel").focus();
      setTimeout(() => { ok.disabled = false; }, ARM_AFTER_MS);
    });
  };

  function sendOnce(form) {
    form.dataset.sending = "1";
    // Disabled after the browser has read the form: a disabled submitter would not be sent.
    setTimeout(() => form.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = true; }), 0);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (form.dataset.sending) { event.preventDefault(); return; }
    if (form.dataset.confirmTitle) {
      event.preventDefault();
      const opener = event.submitter || form.querySelector("button");
      window.OM.confirm({
        title: form.dataset.confirmTitle,
        effect: form.dataset.confirmEffect,
        button: form.dataset.confirmButton,
        danger: form.dataset.confirmDanger !== "false",
        returnFocus: () => opener,
      }).then((yes) => {
        if (!yes || form.dataset.sending) return;
        const flag = document.createElement("input");
        flag.type = "hidden";
        flag.name = "confirmed";
        flag.value = "1";
        form.append(flag);
        sendOnce(form);
        form.submit(); // fires no submit event: this is the one submission
      });
      return;
    }
    if ("once" in form.dataset) sendOnce(form);
  });

  // Back to a page kept by the browser's back/forward cache: its forms may be used again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sending]").forEach((form) => {
      delete form.dataset.sending;
      form.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = false; });
      form.querySelectorAll("input[name=confirmed]").forEach((input) => input.remove());
    });
  });
})();
