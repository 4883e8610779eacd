// The field app: find and keep sites offline, record work on them, send it when the link is up.
import { Answer, Dropped, call } from "./api.js";
import * as db from "./db.js";
import { $, announce, h, show } from "./dom.js";
import * as outbox from "./outbox.js";
import * as outboxview from "./outboxview.js";
import * as sitepage from "./sitepage.js";
import { LANG, STRINGS as S } from "./strings.js";
import { sync, syncing } from "./sync.js";

const SYNC_EVERY_MS = 15000;

async function refreshBar() {
  const entries = await outbox.entries();
  const open = entries.filter((e) => outbox.OPEN.has(e.state)).length;
  $("pending").textContent = open ? S.pending(open) : S.nothingPending;
  $("pending").dataset.pending = String(open);
  const last = await db.get("meta", "lastSync");
  $("lastsync").textContent = last ? S.lastSync(new Date(last).toLocaleString(LANG)) : S.neverSynced;
  $("lastsync").dataset.at = last || "";
  await outboxview.render();
}

function net() {
  const online = navigator.onLine;
  $("net").dataset.net = online ? "online" : "offline";
  $("net").textContent = online ? S.online : S.offline;
}

function progress({ done, total, retryIn, offline, finished }) {
  const bar = $("progress");
  bar.hidden = !total;
  bar.max = Math.max(total, 1);
  bar.value = done;
  const textEl = $("progress-text");
  textEl.dataset.done = String(done);
  textEl.dataset.total = String(total);
  if (offline) textEl.textContent = S.syncOffline;
  else if (retryIn) textEl.textContent = `${S.syncing(done, total)} ${S.syncRetry(retryIn)}`;
  else if (finished) textEl.textContent = S.syncDone(done, total);
  else textEl.textContent = S.syncing(done, total);
  refreshBar();
}

async function runSync() {
  if (!navigator.onLine || syncing()) return;
  try {
    await sync(progress);
  } catch (error) {
    if (error instanceof Answer && error.status === 401) return signedOut();
    $("progress-text").textContent = String(error.message || error);
  }
  await refreshBar();
  const open = $("site").hidden ? null : $("site").dataset.code;
  if (open) {
    const record = await db.get("sites", open);
    if (record) sitepage.render(record);
  }
}

function signedOut() {
  $("signin").hidden = false;
}

// --- priming -------------------------------------------------------------------------

async function prime(code) {
  const kept = await db.get("sites", code);
  try {
    const answer = await call(`/api/v1/field/sites/${encodeURIComponent(code)}`, {
      headers: kept ? { "If-None-Match": kept.etag } : {},
    });
    if (answer.status === 200) await db.put("sites", { ...answer.body, primedAt: new Date().toISOString() });
    announce(S.primeDone(code));
  } catch (error) {
    if (error instanceof Answer && error.status === 304) {
      announce(S.primeDone(code));
    } else if (error instanceof Answer && error.status === 401) {
      signedOut();
    } else {
      announce(S.primeFailed(code, error instanceof Answer ? error.body?.detail || error.status : S.offline));
      throw error;
    }
  }
  await renderKept();
}

async function search(q) {
  const params = new URLSearchParams({ limit: "30", sort: "code", fields: "code,name,country,kind" });
  if (q) params.set("q", q);
  try {
    const answer = await call(`/api/v1/sites?${params}`);
    renderFound(answer.body.items);
  } catch (error) {
    if (error instanceof Answer && error.status === 401) return signedOut();
    announce(error instanceof Dropped ? S.offline : String(error.message));
  }
}

async function myWork() {
  try {
    const answer = await call("/api/v1/field/work-orders");
    const codes = [...new Set(answer.body.work_orders.map((o) => o.site))];
    await db.put("meta", { name: answer.body.name, role: answer.body.role }, "me");
    renderFound(codes.map((code) => ({ code, name: answer.body.work_orders.find((o) => o.site === code).title })));
    for (const code of codes) await prime(code);
  } catch (error) {
    if (error instanceof Answer && error.status === 401) return signedOut();
    announce(error instanceof Dropped ? S.offline : String(error.message));
  }
}

function renderFound(items) {
  $("found").replaceChildren(...items.map((site) =>
    h("li", { class: "card", dataset: { site: site.code } },
      h("p", { class: "title" }, `${site.code} · ${site.name}`),
      h("button", { type: "button", class: "primary", onclick: () => prime(site.code).catch(() => {}), "aria-label": `${S.prime} ${site.code}` }, S.prime))));
}

async function renderKept() {
  const records = await db.all("sites");
  const list = $("kept");
  if (!records.length) {
    list.replaceChildren(h("li", {}, S.noneKept));
    return;
  }
  list.replaceChildren(...records.map((r) =>
    h("li", { class: "card", dataset: { site: r.site.code } },
      h("p", { class: "title" }, `${r.site.code} · ${r.site.name}`),
      h("p", {}, `${S.primed} ${new Date(r.primedAt).toLocaleString(LANG)}`),
      h("button", { type: "button", class: "primary", onclick: () => openSite(r.site.code), "aria-label": `${S.open} ${r.site.code}` }, S.open))));
}

async function openSite(code) {
  const record = await db.get("sites", code);
  if (!record) return;
  $("site").dataset.code = code;
  sitepage.render(record);
}

// --- start ---------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch(() => {});
  }
  net();
  window.addEventListener("online", () => {
    net();
    runSync();
  });
  window.addEventListener("offline", net);
  document.addEventListener("outbox-changed", () => refreshBar());
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("q").value.trim());
  });
  $("mywork").addEventListener("click", () => myWork());
  $("sync").addEventListener("click", () => runSync());
  await renderKept();
  await refreshBar();
  show("sites", false);
  document.body.dataset.ready = "yes";
  setInterval(() => {
    if (navigator.onLine) runSync();
  }, SYNC_EVERY_MS);
  if (navigator.onLine) runSync();
}

start();
