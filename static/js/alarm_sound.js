// The board's alarm sound, armed on the first interaction.
//
// Browsers keep a page silent until someone clicks or types in it (after every reload too), so an
// alarm arriving first would flash and make no sound. The page's one AudioContext is made here;
// until it runs, the board shows "Click to enable alarm sound" (a real button, though any click or
// key on the page arms it). A browser with no Web Audio, or one that refuses to start it, says so
// in the same place instead: the alarms still show, silently. If the sound is suspended again later
// (the system took the audio device), the button comes back.
//
// window.OM.sound.context() gives board.js that one context (null when there is no sound), which
// stays open: an alarm that starts before the first click becomes audible with it.
window.OM = window.OM || {};
(function () {
  "use strict";
  const box = document.getElementById("sound-arming");
  const button = document.getElementById("sound-arm");
  const text = document.getElementById("sound-arming-text");
  const Context = window.AudioContext || window.webkitAudioContext;
  const GESTURES = ["pointerdown", "keydown", "touchend", "click"];
  let ctx = null;
  let state = "unarmed"; // "armed" once the context runs; "unavailable" when it cannot

  function show(waiting) {
    if (!box) return;
    box.dataset.state = state;
    box.hidden = !waiting && state !== "unavailable";
  }

  function listen(on) {
    for (const kind of GESTURES) {
      // Capturing on window: runs before any handler of the page can stop the event.
      if (on) window.addEventListener(kind, arm, true);
      else window.removeEventListener(kind, arm, true);
    }
  }

  function unavailable(reason) {
    state = "unavailable";
    ctx = null;
    listen(false);
    if (button) button.remove(); // nothing to click: the text says why
    if (text) {
      text.textContent = "This browser cannot play the alarm sound (" + reason + "). " +
        "Alarms show on the board but make no sound: keep it in sight.";
    }
    show(true);
  }

  function watch() {
    if (!ctx || state === "unavailable") return;
    if (ctx.state === "running") {
      state = "armed";
      listen(false);
      show(false);
    } else if (ctx.state === "closed") {
      unavailable("the sound was switched off");
    } else {
      state = "unarmed";
      listen(true);
      show(true);
    }
  }

  function context() {
    if (state === "unavailable") return null;
    if (!ctx) {
      if (!Context) { unavailable("no Web Audio"); return null; }
      try {
        ctx = new Context();
      } catch (e) {
        unavailable("Web Audio refused to start");
        return null;
      }
      ctx.addEventListener("statechange", watch);
    }
    return ctx;
  }

  function arm() {
    const c = context();
    if (!c || state === "armed") return;
    try {
      // A silent moment played inside the gesture: some browsers unlock their audio only then.
      const source = c.createBufferSource();
      source.buffer = c.createBuffer(1, 1, 22050);
      source.connect(c.destination);
      source.start(0);
    } catch (e) { /* resume() below decides */ }
    c.resume().then(watch, () => unavailable("Web Audio refused to start"));
  }

  window.OM.sound = {
    context,
    arm,
    get state() { return state; },
  };

  if (button) button.addEventListener("click", arm);
  if (context()) watch();
})();
