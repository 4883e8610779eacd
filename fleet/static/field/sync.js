// Sending the outbox: in order, in small pieces for a slow link (5 changes a request), each
// request with a timeout; a dropped connection is retried with backoff, the same piece with the
// same ids (the server answers a repeat from what it stored, so nothing applies twice). The
// piece being sent is kept in IndexedDB, so a reload resumes it.
import { Answer, Dropped, call } from "./api.js";
import * as db from "./db.js";
import * as outbox from "./outbox.js";

export const PIECE = 5;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const TIMEOUT_MS = 60000;

let running = null;

export function syncing() {
  return running !== null;
}

// Send everything pending; ``report({done, total, retryIn})`` follows the progress.
export function sync(report = () => {}) {
  if (!running) {
    running = run(report).finally(() => {
      running = null;
    });
  }
  return running;
}

async function run(report) {
  const startedWith = (await outbox.entries()).filter((e) => e.state === "pending").length;
  let done = 0;
  let attempt = 0;
  if (!startedWith) return { done };
  report({ done, total: startedWith });
  for (;;) {
    const open = (await outbox.entries()).filter((e) => e.state === "pending");
    const piece = outbox.nextPiece(open, PIECE);
    if (!piece.length) break;
    try {
      await send(piece);
      attempt = 0;
      done += piece.length;
      report({ done, total: Math.max(startedWith, done) });
    } catch (error) {
      if (!(error instanceof Dropped)) throw error;
      if (!navigator.onLine) {
        report({ done, total: startedWith, offline: true });
        return { done, offline: true };
      }
      const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      report({ done, total: startedWith, retryIn: Math.round(wait / 1000) });
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  if (done) await db.put("meta", new Date().toISOString(), "lastSync");
  // photos the server could not take yet wait for the next sync
  for (const entry of await outbox.entries()) {
    if (entry.state === "waiting") {
      entry.state = "pending";
      await outbox.save(entry);
    }
  }
  report({ done, total: Math.max(startedWith, done), finished: true });
  return { done };
}

// Worth sending again later: busy, a gateway's failure, or the same request still running on
// the server (409 to a repeated Idempotency-Key).
function transient(error) {
  return error instanceof Answer && [409, 429, 502, 503, 504].includes(error.status);
}

async function send(piece) {
  // the piece and its key survive a reload: the same piece goes again with the same key
  let current = await db.get("meta", "piece");
  const seqs = piece.map((e) => e.seq);
  if (!current || current.seqs.join() !== seqs.join()) {
    current = { seqs, key: outbox.uuid() };
    await db.put("meta", current, "piece");
  }
  try {
    if (piece[0].kind === "batch") await sendBatch(piece, current.key);
    else if (piece[0].kind === "photo") await sendPhoto(piece[0]);
    else await sendOrder(piece[0]);
  } catch (error) {
    if (transient(error)) {
      if (error.status === 409) await db.remove("meta", "piece"); // a new key: each change keeps its id
      const after = Number(error.headers.get("Retry-After") || "0");
      if (after) await new Promise((resolve) => setTimeout(resolve, Math.min(after, 60) * 1000));
      throw new Dropped(`HTTP ${error.status}`);
    }
    throw error;
  }
  await db.remove("meta", "piece");
}

async function sendBatch(piece, key) {
  const changes = piece.map((e) => ({ id: e.id, ...e.change }));
  let answer;
  try {
    answer = await call("/api/v1/batch", {
      method: "POST",
      body: { changes },
      headers: { "Idempotency-Key": key },
      timeoutMs: TIMEOUT_MS,
    });
  } catch (error) {
    if (error instanceof Answer && !transient(error)) {
      for (const entry of piece) await settle(entry, "invalid", { problem: error.body });
      return;
    }
    throw error;
  }
  const byId = new Map(answer.body.results.map((r) => [r.id, r]));
  let unsettled = false;
  for (const entry of piece) {
    const result = byId.get(entry.id);
    if (!result || (result.status === "invalid" && result.problem?.status === 409)) {
      unsettled = true; // still being applied by an earlier send: ask again later
      continue;
    }
    if (result.status === "applied") {
      await settle(entry, "applied", { etag: result.etag, object: result.object });
      await outbox.rebase(entry, result.etag, result.object);
      await remember(result.object, result.etag);
    } else if (result.status === "conflict") {
      await settle(entry, "conflict", { etag: result.current_etag, object: result.current });
    } else {
      await settle(entry, result.status, { problem: result.problem });
    }
  }
  if (unsettled) throw new Dropped("a change of the piece is still being applied");
}

async function sendOrder(entry) {
  const path =
    entry.kind === "transition"
      ? `/api/v1/work-orders/${entry.orderId}/transitions`
      : `/api/v1/work-orders/${entry.orderId}/journal`;
  const body = entry.kind === "transition" ? { to: entry.to, note: entry.note || null } : { note: entry.note };
  const headers = { "Idempotency-Key": entry.id };
  if (entry.kind === "transition") headers["If-Match"] = entry.ifMatch;
  try {
    const answer = await call(path, { method: "POST", body, headers, timeoutMs: TIMEOUT_MS });
    const etag = answer.headers.get("ETag");
    await settle(entry, "applied", { etag, object: answer.body });
    if (etag) await outbox.rebase(entry, etag, null);
    await rememberOrder(answer.body, etag);
  } catch (error) {
    if (!(error instanceof Answer) || transient(error)) throw error;
    if (error.status === 412) {
      const now = await call(`/api/v1/work-orders/${entry.orderId}`, { timeoutMs: TIMEOUT_MS });
      await settle(entry, "conflict", { etag: now.headers.get("ETag"), object: now.body });
    } else {
      await settle(entry, error.status === 403 ? "forbidden" : "invalid", { problem: error.body });
    }
  }
}

async function sendPhoto(entry) {
  if (String(entry.targetKey).startsWith(outbox.TEMP)) return;
  const name = encodeURIComponent(entry.name);
  const path = `/api/v1/${entry.targetType}/${entry.targetKey}/attachments?name=${name}`;
  try {
    const answer = await call(path, {
      method: "POST",
      body: entry.blob,
      raw: true,
      headers: { "Content-Type": entry.blob.type || "image/jpeg", "Idempotency-Key": entry.id },
      timeoutMs: Math.max(TIMEOUT_MS, (entry.blob.size / 2000) * 1000),
    });
    await settle(entry, "applied", { object: answer.body });
  } catch (error) {
    if (!(error instanceof Answer) || transient(error)) throw error;
    if (error.status === 405) {
      // a server without photo uploads: the photo waits for the next sync
      await settle(entry, "waiting", { problem: error.body });
    } else {
      await settle(entry, error.status === 403 ? "forbidden" : "invalid", { problem: error.body });
    }
  }
}

async function settle(entry, state, result) {
  entry.state = state;
  entry.result = result;
  entry.settledAt = new Date().toISOString();
  await outbox.save(entry);
}

// Keep the site record on the phone in step with what the server answered.
async function remember(object, etag) {
  if (!object || !object.site && object.object_type !== "site") return;
  const code = object.object_type === "site" ? object.code : object.site;
  const record = await db.get("sites", code);
  if (!record) return;
  const list = { device: "devices", link: "links" }[object.object_type];
  const shown = { ...object, etag, pending: false };
  if (object.object_type === "site") record.site = { ...record.site, ...shown };
  else if (list) {
    const at = record[list].findIndex((o) => o.id === object.id || (object.serial && o.serial === object.serial));
    if (at >= 0) record[list][at] = { ...record[list][at], ...shown };
    else record[list].push({ ...shown, status: { state: null, since: null, reason: null } });
  }
  await db.put("sites", record);
}

async function rememberOrder(order, etag) {
  if (!order || !order.site) return;
  const record = await db.get("sites", order.site);
  if (!record) return;
  const at = record.work_orders.findIndex((o) => o.id === order.id);
  if (at >= 0) record.work_orders[at] = { ...record.work_orders[at], ...order, etag };
  await db.put("sites", record);
}
