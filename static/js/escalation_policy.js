// The escalation policy form asks first (confirm.js's dialog) when a step is marked for removal, or
// when a policy that was on is switched off (its running escalations end): the form carries
// data-confirm-* only while one of those is so.
(function () {
  "use strict";
  const form = document.querySelector("form.escalation-policy");
  if (!form) return;
  const active = form.querySelector("input[name=active]");
  function ask(what) {
    form.dataset.confirmTitle = form.dataset[what + "Title"];
    form.dataset.confirmEffect = form.dataset[what + "Effect"];
    form.dataset.confirmButton = form.dataset[what + "Button"];
  }
  function sync() {
    const removing = form.querySelectorAll("input[data-remove-step]:checked").length > 0;
    const switchingOff = form.dataset.wasActive === "yes" && active && !active.checked;
    if (switchingOff) {
      ask("off");
    } else if (removing && !form.querySelector("input[name=confirmed]")) {
      ask("removal");
    } else {
      delete form.dataset.confirmTitle;
      delete form.dataset.confirmEffect;
      delete form.dataset.confirmButton;
    }
  }
  form.addEventListener("change", sync);
  sync();
})();
