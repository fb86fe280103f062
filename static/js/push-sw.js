// Web Push in a service worker: shows what the server sent (title, body, tag) even with the page
// closed, and a tap opens the page it names (a path on this site), focusing it when already open.
// The boards register this file itself (from /push/sw.js, scope /board/); the phone's worker imports it.
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (e) {
    message = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: message.body || "",
    icon: "/static/icons/om.svg",
    data: { url: sameSite(message.url) },
  };
  if (message.tag) {
    options.tag = message.tag;
    options.renotify = true; // a newer message with the same tag still alerts
  }
  event.waitUntil(self.registration.showNotification(message.title || "Oscar Mike", options));
});

function sameSite(url) {
  // Only a page of this site: a message that names anything else opens the worker's own scope.
  try {
    const target = new URL(url || "", self.location.origin);
    if (target.origin === self.location.origin) return target.href;
  } catch (e) { /* falls through */ }
  return self.registration.scope;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || self.registration.scope;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
    const same = windows.find((w) => w.url === target);
    if (same) return same.focus();
    const ours = windows.find((w) => w.url.startsWith(self.registration.scope) && "navigate" in w);
    // navigate() works only on a window this worker controls; any other opens a new one.
    const open = () => self.clients.openWindow(target);
    if (ours) return ours.navigate(target).then((w) => (w ? w.focus() : open()), open);
    return open();
  }));
});
