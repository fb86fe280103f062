// The intel review queue: one advisory open at a time. Browsers that know <details name="…"> do
// this themselves; this keeps it so in the others. Keyboard use is the <summary>'s own.
(function () {
  "use strict";
  const items = [...document.querySelectorAll("details.review-item")];
  for (const item of items) {
    item.addEventListener("toggle", () => {
      if (!item.open) return;
      for (const other of items) if (other !== item && other.open) other.open = false;
    });
  }
})();
