// "Enable notifications" on the phone page and the board: subscribes this browser to Web Push through
// the page's service worker, saves the subscription for the signed-in person, and says where things
// stand (on, off, blocked by the browser, not supported). Config: the #push-config JSON block.
(function () {
  "use strict";
  const configNode = document.getElementById("push-config");
  if (!configNode) return;
  const config = JSON.parse(configNode.textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const stateNode = document.getElementById("push-state");
  const enable = document.getElementById("push-enable");
  const disable = document.getElementById("push-disable");
  let busy = false;

  function show(text, canEnable, canDisable) {
    stateNode.textContent = text;
    enable.hidden = !canEnable;
    disable.hidden = !canDisable;
    enable.disabled = busy;
    disable.disabled = busy;
  }

  if (!("serviceWorker" in navigator && "PushManager" in window && "Notification" in window)) {
    show("Notifications: not supported by this browser.", false, false);
    return;
  }

  function worker() {
    return navigator.serviceWorker.register(config.sw_url, { scope: config.scope })
      .then(() => navigator.serviceWorker.ready);
  }

  function keyBytes(text) {
    const base64 = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function send(method, body) {
    return fetch(config.subscriptions_url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  function said(response) {
    return response.json().then((b) => b.message || response.statusText, () => response.statusText);
  }

  function subscribe(registration) {
    return fetch(config.key_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("the server's key could not be read"))))
      .then((body) => registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(body.public_key) }));
  }

  function refresh() {
    if (Notification.permission === "denied") {
      show("Notifications: blocked by the browser. Allow them in this site's settings, then reload.", false, false);
      return Promise.resolve();
    }
    return worker().then((registration) => registration.pushManager.getSubscription()).then((subscription) => {
      if (!subscription || Notification.permission !== "granted") {
        show("Notifications: off on this device.", true, false);
        return;
      }
      // Tell the server again (keys renewed, a subscription it dropped): this browser says what is true.
      return send("POST", subscription.toJSON()).then((response) => {
        if (response.ok) show("Notifications: on for this device.", false, true);
        else if (response.status === 409) show("Notifications: this browser gets another account's.", true, false);
        else return said(response).then((m) => show("Notifications: not saved (" + m + ").", true, false));
      });
    }).catch(() => show("Notifications: could not be checked on this device.", true, false));
  }

  function turnOn() {
    if (busy) return;
    busy = true;
    show(stateNode.textContent, !enable.hidden, !disable.hidden);
    Notification.requestPermission().then((permission) => {
      if (permission !== "granted") return null;
      return worker().then((registration) => registration.pushManager.getSubscription().then((old) =>
        // Another account's subscription (or one made with another key) gives way to a fresh one.
        (old ? old.unsubscribe() : null)).then(() => subscribe(registration)))
        .then((subscription) => send("POST", subscription.toJSON()))
        .then((response) => (response.ok ? null : said(response)));
    }).then((problem) => {
      busy = false;
      return problem ? show("Notifications: not saved (" + problem + ").", true, false) : refresh();
    }, (error) => {
      busy = false;
      show("Notifications: could not be turned on (" + (error && error.message ? error.message : "refused") + ").", true, false);
    });
  }

  function turnOff() {
    if (busy) return;
    window.OM.confirm({
      title: "Turn off notifications on this device?",
      effect: "This device stops showing alerts while the page is closed. Your other devices keep theirs.",
      button: "Turn off",
      returnFocus: () => (enable.hidden ? disable : enable),
    }).then((yes) => {
      if (!yes || busy) return null;
      busy = true;
      show(stateNode.textContent, false, true);
      return worker().then((registration) => registration.pushManager.getSubscription()).then((subscription) => {
        if (!subscription) return null;
        return send("DELETE", { endpoint: subscription.endpoint }).then(() => subscription.unsubscribe());
      }).catch(() => null).then(() => { busy = false; return refresh(); });
    });
  }

  enable.addEventListener("click", turnOn);
  disable.addEventListener("click", turnOff);
  refresh();
})();
