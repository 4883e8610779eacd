// The field app's service worker: the app shell from a cache named after a hash of its files,
// so that the app opens with no link at all and a new release replaces the old shell. The
// API is never cached here (the app keeps its data in IndexedDB). The page itself holds the
// app's words in the reader's language: it is asked of the network first, for a moment, and
// the copy kept is the last one served, so the app opens offline in the language last chosen.
const VERSION = __VERSION__;
const SHELL = __SHELL__;
const NETWORK_MS = __NETWORK_MS__;
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
  if (url.pathname === "/field") {
    event.respondWith(caches.open(CACHE).then((cache) => page(event.request, cache)));
    return;
  }
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(url.pathname).then((hit) => hit || fetch(event.request))),
  );
});

// The page from the network when it answers within NETWORK_MS (kept for the next time
// offline), else the copy kept.
async function page(request, cache) {
  const network = fetch(request).then(async (answer) => {
    if (answer.ok && !answer.redirected) await cache.put("/field", answer.clone());
    return answer;
  });
  network.catch(() => {});
  const late = new Promise((resolve) => setTimeout(resolve, NETWORK_MS, null));
  try {
    const first = await Promise.race([network, late]);
    if (first) return first;
  } catch {
    // offline: the copy kept
  }
  return (await cache.match("/field")) || network;
}
