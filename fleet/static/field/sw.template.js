// The field app's service worker: the app shell from a cache named after a hash of its files,
// so that the app opens with no link at all and a new release replaces the old shell. The
// API is never cached here (the app keeps its data in IndexedDB).
const VERSION = __VERSION__;
const SHELL = __SHELL__;
const CACHE = `fleet-field-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("fleet-field-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  const shell = url.pathname === "/field" || url.pathname === "/field/manifest.webmanifest" || url.pathname.startsWith("/static/field/");
  if (!shell) return;
  const key = url.pathname === "/field" ? "/field" : url.pathname;
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(key).then((hit) => hit || fetch(event.request))),
  );
});
