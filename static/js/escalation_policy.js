// The escalation policy form asks first (confirm.js's dialog) when a step is marked for removal:
// the form carries data-confirm-* only while a "Remove" box is ticked.
(function () {
  "use strict";
  const form = document.querySelector("form.escalation-policy");
  if (!form) return;
  function sync() {
    const removing = form.querySelectorAll("input[data-remove-step]:checked").length > 0;
    if (removing && !form.querySelector("input[name=confirmed]")) {
      form.dataset.confirmTitle = form.dataset.removalTitle;
      form.dataset.confirmEffect = form.dataset.removalEffect;
      form.dataset.confirmButton = form.dataset.removalButton;
    } else {
      delete form.dataset.confirmTitle;
      delete form.dataset.confirmEffect;
      delete form.dataset.confirmButton;
    }
  }
  form.addEventListener("change", sync);
  sync();
})();
