// The outbox: every change made on the phone, in order, each with its base version (If-Match)
// and its own id (the batch's change id or the Idempotency-Key), kept in IndexedDB.
//
// A device installed offline gets a temporary id ("tmp:..."); entries after it that name it
// (as the key of an update, a parent, a link's terminating device, a photo's target) are
// rewritten when its create is applied. Entries made on top of an earlier pending entry on the
// same object carry that entry's base version, and move on to its new one when it applies.
import * as db from "./db.js";

export const TEMP = "tmp:";
export const OPEN = new Set(["pending", "conflict", "waiting"]);

export function uuid() {
  return crypto.randomUUID();
}

export function tempId() {
  return TEMP + uuid();
}

export async function entries() {
  const found = await db.all("outbox");
  return found.sort((a, b) => a.seq - b.seq);
}

export async function add(entry) {
  const value = { id: uuid(), state: "pending", createdAt: new Date().toISOString(), ...entry };
  value.seq = await db.put("outbox", value);
  return value;
}

export async function save(entry) {
  await db.put("outbox", entry);
}

// The object an entry changes, as "type:key" (a temporary id for one not created yet).
export function target(entry) {
  if (entry.kind === "batch") {
    if (entry.change.op === "create") return entry.tempId ? `device:${entry.tempId}` : null;
    return `${entry.change.object}:${entry.change.key}`;
  }
  if (entry.kind === "transition" || entry.kind === "journal") return `work_order:${entry.orderId}`;
  return null;
}

// The temporary ids an entry refers to.
export function refs(entry) {
  const found = new Set();
  const look = (value) => {
    if (typeof value === "string" && value.startsWith(TEMP)) found.add(value);
  };
  if (entry.kind === "batch") {
    look(entry.change.key);
    for (const value of Object.values(entry.change.data || {})) look(value);
  } else if (entry.kind === "photo") {
    look(entry.targetKey);
  }
  return found;
}

// After ``applied`` (an entry) is answered with ``etag`` (and ``object`` for a create), move
// the later open entries onto what the server now holds.
export async function rebase(applied, etag, object) {
  const temp = applied.tempId && object ? applied.tempId : null;
  await moveBase(applied, base(applied), etag, temp ? { temp, real: object.id } : null);
}

// Later open entries on the same object as ``entry`` made against ``from`` now go against
// ``to`` (and name the created device ``created.real`` instead of ``created.temp``).
export async function moveBase(entry, from, to, created = null) {
  const later = (await entries()).filter((e) => e.seq > entry.seq && OPEN.has(e.state));
  const name = target(entry);
  for (const other of later) {
    let changed = false;
    if (created) {
      changed = replaceTemp(other, created.temp, created.real, to);
    } else if (name && target(other) === name && from && base(other) === from) {
      setBase(other, to);
      changed = true;
    }
    if (changed) await save(other);
  }
}

export function base(entry) {
  return entry.kind === "batch" ? entry.change.if_match : entry.ifMatch;
}

export function setBase(entry, etag) {
  if (entry.kind === "batch") entry.change.if_match = etag;
  else entry.ifMatch = etag;
}

function replaceTemp(entry, temp, real, etag) {
  let changed = false;
  if (entry.kind === "batch") {
    if (entry.change.key === temp) {
      entry.change.key = real;
      changed = true;
    }
    if (entry.change.if_match === temp) {
      entry.change.if_match = etag;
      changed = true;
    }
    for (const [name, value] of Object.entries(entry.change.data || {})) {
      if (value === temp) {
        entry.change.data[name] = real;
        changed = true;
      }
    }
  } else if (entry.kind === "photo" && entry.targetKey === temp) {
    entry.targetKey = real;
    changed = true;
  }
  return changed;
}

// The next piece to send: up to ``size`` batch changes in order, stopping before one that
// depends on an earlier change of the same piece (the same object, or a device created in it).
// A work-order move or a photo goes alone. A change naming a device whose create is not applied
// (refused, or in conflict) waits for it; the changes after it go on.
export function nextPiece(open, size) {
  const piece = [];
  const touched = new Set();
  for (const entry of open) {
    if (entry.state !== "pending") break;
    if (refs(entry).size) {
      if (piece.length) break;
      continue;
    }
    if (entry.kind !== "batch") {
      if (!piece.length) piece.push(entry);
      break;
    }
    const name = target(entry);
    if (name && touched.has(name)) break;
    piece.push(entry);
    if (name) touched.add(name);
    if (entry.tempId) touched.add(`device:${entry.tempId}`);
    if (piece.length >= size) break;
  }
  return piece;
}
