// IndexedDB: the sites kept offline (each object with its ETag), the outbox (in order) and a
// few settings. Every write is one transaction, so a closed browser loses nothing acknowledged.
const NAME = "fleet-field";
const VERSION = 1;
let opened = null;

export function open() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("sites", { keyPath: "site.code" });
      db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      db.createObjectStore("meta");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function asked(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function all(store) {
  const db = await open();
  return asked(db.transaction(store).objectStore(store).getAll());
}

export async function get(store, key) {
  const db = await open();
  return asked(db.transaction(store).objectStore(store).get(key));
}

export async function put(store, value, key) {
  const db = await open();
  const tx = db.transaction(store, "readwrite");
  const result = asked(key === undefined ? tx.objectStore(store).put(value) : tx.objectStore(store).put(value, key));
  await done(tx);
  return result;
}

export async function remove(store, key) {
  const db = await open();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  await done(tx);
}

export { asked };
