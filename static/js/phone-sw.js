// Service worker for the phone page: the page and its files open from cache when the network
// is gone, so an agent can still tap a code (it queues on the page and is sent later).
// Status and position POSTs are never cached or answered from here. Push notifications: push-sw.js.
importScripts("/static/js/push-sw.js");
const CACHE = "oscarmike-phone-v7";
const SHELL = ["/phone/", "/static/css/app.css", "/static/js/confirm.js", "/static/js/dom.js", "/static/js/phone.js", "/static/js/phone-messages.js", "/static/js/push.js", "/static/js/tables.js", "/static/vendor/socket.io/socket.io.min.js", "/static/icons/om.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname === "/phone/state") return;
  // Network first so the page is fresh when online; the cached copy when offline.
  event.respondWith(
    fetch(request).then((response) => {
      if (response.ok && SHELL.includes(url.pathname)) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request, copy));
      }
      return response;
    }).catch(() => caches.match(request).then((hit) => hit || Response.error()))
  );
});
