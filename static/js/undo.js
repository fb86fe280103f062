// Undo notices (a visit, movement or assignment just removed): count down the seconds left, then
// take the Undo button away, as the server refuses it from then on. The count itself is hidden from
// screen readers (the notice says once how long undo lasts), so it is not read out every second.
(function () {
  "use strict";
  document.querySelectorAll(".undo-notice[data-undo-seconds]").forEach((notice) => {
    let left = parseInt(notice.dataset.undoSeconds, 10) || 0;
    const shown = notice.querySelector(".undo-left");
    const tick = () => {
      if (left <= 0) {
        clearInterval(timer);
        const form = notice.querySelector("form");
        if (form && !form.dataset.sending) form.remove();
        if (shown) shown.textContent = "can no longer be undone";
        return;
      }
      if (shown) shown.textContent = left + " s left";
      left -= 1;
    };
    const timer = setInterval(tick, 1000);
    tick();
  });
})();
