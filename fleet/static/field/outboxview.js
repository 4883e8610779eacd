// The outbox as the engineer sees it: each change with its state; a conflict beside the
// server's current version, with the choice of keeping mine, taking theirs or editing.
import * as db from "./db.js";
import { $, announce, h } from "./dom.js";
import * as outbox from "./outbox.js";
import { STRINGS as S } from "./strings.js";

function changed() {
  document.dispatchEvent(new CustomEvent("outbox-changed"));
}

function mine(entry) {
  if (entry.kind === "batch") return entry.change.data || {};
  if (entry.kind === "transition") return { state: entry.to, note: entry.note };
  return {};
}

function theirs(entry) {
  return entry.result?.object || {};
}

function text(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export async function render() {
  const list = $("entries");
  const entries = (await outbox.entries()).filter((e) => e.state !== "dropped");
  list.replaceChildren(...entries.map(item));
}

function item(entry) {
  const state = S.state[entry.state] || entry.state;
  const li = h("li", { class: "entry", dataset: { state: entry.state, seq: entry.seq, kind: entry.kind } },
    h("span", { class: "label" }, entry.label),
    " ",
    h("span", { class: "badge", "data-field": "state" }, state));
  if (entry.state === "conflict") li.append(conflict(entry));
  if ((entry.state === "invalid" || entry.state === "forbidden") && entry.result?.problem) {
    li.append(h("p", { class: "problem" }, entry.result.problem.detail || entry.result.problem.title || ""));
  }
  return li;
}

function conflict(entry) {
  const ours = mine(entry);
  const server = theirs(entry);
  const rows = Object.keys(ours).map((name) =>
    h("tr", {}, h("th", { scope: "row" }, name), h("td", { "data-side": "mine" }, text(ours[name])), h("td", { "data-side": "theirs" }, text(server[name]))));
  return h("div", { class: "conflict", role: "group", "aria-label": S.conflictTitle },
    h("p", {}, S.conflictTitle),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, S.yours), h("th", { scope: "col" }, S.theirs))),
      h("tbody", {}, rows)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => keepMine(entry) }, S.keepMine),
      h("button", { type: "button", onclick: () => takeTheirs(entry) }, S.takeTheirs),
      h("button", { type: "button", onclick: (event) => edit(entry, event.target.closest("li")) }, S.edit)));
}

// Mine again, on top of the server's current version: a new change id, so it is applied anew.
export async function keepMine(entry, data) {
  const old = outbox.base(entry);
  const current = entry.result.etag;
  if (data) entry.change.data = data;
  entry.id = outbox.uuid();
  outbox.setBase(entry, current);
  entry.state = "pending";
  entry.result = null;
  await outbox.save(entry);
  await outbox.moveBase(entry, old, current);
  announce(`${S.keepMine}: ${entry.label}`);
  changed();
}

export async function takeTheirs(entry) {
  const old = outbox.base(entry);
  entry.state = "dropped";
  await outbox.save(entry);
  await outbox.moveBase(entry, old, entry.result.etag);
  const object = entry.result.object;
  const record = await db.get("sites", entry.site);
  if (record && object) {
    const list = entry.kind === "batch" ? { device: "devices", link: "links" }[entry.change.object] : "work_orders";
    const at = list ? record[list].findIndex((o) => o.id === object.id) : -1;
    if (at >= 0) record[list][at] = { ...record[list][at], ...object, etag: entry.result.etag, pending: false };
    await db.put("sites", record);
  }
  announce(`${S.takeTheirs}: ${entry.label}`);
  changed();
}

function edit(entry, li) {
  if (entry.kind !== "batch") return keepMine(entry);
  const data = entry.change.data || {};
  const inputs = Object.entries(data).map(([name, value]) => {
    const id = `edit-${entry.seq}-${name}`;
    return h("div", { class: "field" }, h("label", { for: id }, name),
      h("input", { id, name, value: typeof value === "object" ? JSON.stringify(value) : String(value ?? "") }));
  });
  const form = h("form", {}, inputs, h("button", { type: "submit", class: "primary" }, S.save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const edited = {};
    for (const [name, value] of Object.entries(data)) {
      const given = form.elements[name].value;
      edited[name] = typeof value === "number" ? Number(given) : typeof value === "object" && value !== null ? JSON.parse(given) : given;
    }
    await keepMine(entry, edited);
  });
  li.append(form);
  form.querySelector("input")?.focus();
}
