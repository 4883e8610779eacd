// The forms that record work: each change goes into the outbox with its base version and is
// shown at once on the phone's copy of the site (its ETag stays the server's until it applies).
import * as db from "./db.js";
import { $, announce, field, h, show } from "./dom.js";
import * as outbox from "./outbox.js";
import { photoName, shrink } from "./photos.js";
import { canScan, scanInto } from "./scan.js";
import * as sitepage from "./sitepage.js";
import { STRINGS as S } from "./strings.js";

const SERIAL = "[A-Za-z0-9][A-Za-z0-9._\\/\\-]{0,79}";

function changed() {
  document.dispatchEvent(new CustomEvent("outbox-changed"));
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

function input(name, attrs = {}) {
  return h("input", { name, id: `f-${name}`, autocomplete: "off", ...attrs });
}

function select(name, options, value) {
  return h("select", { name, id: `f-${name}` },
    options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value) }, label)));
}

function photoInput() {
  return input("photo", { type: "file", accept: "image/*", capture: "environment" });
}

// Show a form; ``save(form data)`` queues the changes and returns the label to announce.
function open(record, title, fields, save) {
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { novalidate: false },
    fields,
    error,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, S.save),
      h("button", { type: "button", onclick: () => sitepage.render(record) }, S.cancel)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    try {
      const label = await save(new FormData(form), form);
      await db.put("sites", record);
      changed();
      sitepage.render(record);
      announce(S.queued(label));
    } catch (failure) {
      error.textContent = String(failure.message || failure);
    }
  });
  $("form").replaceChildren(h("h2", { id: "form-title" }, title), form);
  show("form");
}

async function queuePhoto(form, targetType, targetKey, site) {
  const file = form.querySelector('input[name="photo"]')?.files?.[0];
  if (!file) return null;
  const { blob, width, height } = await shrink(file);
  const name = photoName(file);
  await outbox.add({
    kind: "photo", site, targetType, targetKey, name, blob, width, height,
    label: S.labels.photo(name),
  });
  return name;
}

function models(record) {
  return record.device_models.map((m) => [m.slug, `${m.manufacturer} ${m.model}`]);
}

function parents(record, except) {
  return [["", S.noParent], ...record.devices
    .filter((d) => d.lifecycle !== "retired" && d.id !== except)
    .map((d) => [d.id, `${d.serial} (${d.kind || d.model})`])];
}

function serialField() {
  const serial = input("serial", { required: true, pattern: SERIAL, maxlength: 80, inputmode: "text", autocapitalize: "characters" });
  const parts = [field(S.serialLabel, serial)];
  if (canScan()) {
    const video = h("video", { hidden: true, playsinline: true, muted: true, "aria-hidden": "true" });
    let stop = null;
    const button = h("button", { type: "button" }, S.scan);
    button.addEventListener("click", async () => {
      if (stop) return stop();
      button.textContent = S.scanStop;
      stop = await scanInto(video, serial, () => {
        stop = null;
        button.textContent = S.scan;
        serial.focus();
      });
    });
    parts.push(button, video);
  } else {
    parts.push(h("p", { class: "hint" }, S.scanUnavailable));
  }
  return parts;
}

function newDevice(record, data, extra = {}) {
  const temp = outbox.tempId();
  const body = {
    serial: data.get("serial").trim(),
    site: record.site.code,
    model: data.get("model"),
    lifecycle: "installed",
    installed_on: today(),
    ...extra,
  };
  for (const [name, key] of [["asset_tag", "asset"], ["firmware_version", "firmware"]]) {
    const value = (data.get(key) || "").trim();
    if (value) body[name] = value;
  }
  const parent = data.get("parent");
  if (parent !== null && parent !== "") body.parent_id = /^\d+$/.test(parent) ? Number(parent) : parent;
  else if (parent === "") delete body.parent_id;
  const model = record.device_models.find((m) => m.slug === body.model);
  record.devices.push({ ...body, id: temp, kind: model?.kind, etag: null, pending: true, status: {} });
  return { temp, body };
}

export function install(record) {
  open(record, S.install, [
    field(S.modelLabel, select("model", models(record))),
    ...serialField(),
    field(S.assetLabel, input("asset", { maxlength: 80 })),
    field(S.firmwareLabel, input("firmware", { maxlength: 64 })),
    field(S.parentLabel, select("parent", parents(record))),
    field(S.photoLabel, photoInput()),
  ], async (data, form) => {
    const { temp, body } = newDevice(record, data);
    await outbox.add({
      kind: "batch", site: record.site.code, tempId: temp,
      change: { op: "create", object: "device", data: body },
      label: S.labels.install(body.serial),
    });
    await queuePhoto(form, "devices", temp, record.site.code);
    return S.labels.install(body.serial);
  });
}

async function update(record, device, object, data, label) {
  await outbox.add({
    kind: "batch", site: record.site.code,
    change: { op: "update", object, key: device.id, if_match: device.etag ?? device.id, data },
    label,
  });
  Object.assign(device, data, { pending: true });
}

export function replace(record, old) {
  open(record, `${S.replace} ${old.serial}`, [
    field(S.modelLabel, select("model", models(record), old.model)),
    ...serialField(),
    field(S.assetLabel, input("asset", { maxlength: 80 })),
    field(S.firmwareLabel, input("firmware", { maxlength: 64, value: old.firmware_version || "" })),
    field(S.photoLabel, photoInput()),
  ], async (data, form) => {
    await update(record, old, "device", { lifecycle: "retired" }, S.labels.retire(old.serial));
    const same = {};
    for (const name of ["hostname", "management_address", "probes", "snmp_profile", "ssh_profile", "http_profile", "probe_port"]) {
      if (old[name] !== null && old[name] !== undefined) same[name] = old[name];
    }
    if (old.parent_id !== null && old.parent_id !== undefined) same.parent_id = old.parent_id;
    const { temp, body } = newDevice(record, data, same);
    await outbox.add({
      kind: "batch", site: record.site.code, tempId: temp,
      change: { op: "create", object: "device", data: body },
      label: S.labels.install(body.serial),
    });
    // what hung off the old unit hangs off the new one
    for (const child of record.devices.filter((d) => d.parent_id === old.id && d.lifecycle !== "retired")) {
      await update(record, child, "device", { parent_id: temp }, S.labels.repair(child.serial));
    }
    await queuePhoto(form, "devices", temp, record.site.code);
    return S.labels.install(body.serial);
  });
}

export function repair(record, device) {
  const lifecycles = ["active", "installed", "faulty"].map((v) => [v, v]);
  open(record, `${S.repair} ${device.serial}`, [
    field(S.note, h("textarea", { name: "note", id: "f-note", required: true, maxlength: 1000, rows: 3 })),
    field(S.statusLabel, select("lifecycle", lifecycles, device.lifecycle)),
    field(S.photoLabel, photoInput()),
  ], async (data, form) => {
    const note = `${today()}: ${data.get("note").trim()}`;
    const notes = device.notes ? `${device.notes}\n${note}` : note;
    await update(record, device, "device", { notes: notes.slice(-4000), lifecycle: data.get("lifecycle") }, S.labels.repair(device.serial));
    await queuePhoto(form, "devices", device.id, record.site.code);
    return S.labels.repair(device.serial);
  });
}

export function firmware(record, device) {
  open(record, `${S.firmware} ${device.serial}`, [
    field(S.firmwareLabel, input("firmware", { required: true, maxlength: 64, value: device.firmware_version || "" })),
  ], async (data) => {
    const version = data.get("firmware").trim();
    await update(record, device, "device", { firmware_version: version }, S.labels.firmware(device.serial, version));
    return S.labels.firmware(device.serial, version);
  });
}

export function linkChange(record, link) {
  const lifecycles = ["planned", "active", "decommissioned"].map((v) => [v, v]);
  open(record, `${S.editLink} ${link.circuit_id}`, [
    field(S.bandwidthLabel, input("bandwidth", { type: "number", min: 1, max: 100000000, required: true, value: link.bandwidth_kbps })),
    field(S.providerLabel, input("provider", { maxlength: 80, value: link.provider || "" })),
    field(S.linkLifecycleLabel, select("lifecycle", lifecycles, link.lifecycle)),
  ], async (data) => {
    const change = { bandwidth_kbps: Number(data.get("bandwidth")), lifecycle: data.get("lifecycle") };
    const provider = data.get("provider").trim();
    if (provider) change.provider = provider;
    await update(record, link, "link", change, S.labels.link(link.circuit_id));
    return S.labels.link(link.circuit_id);
  });
}

export function move(record, order, to) {
  open(record, `#${order.id} ${S.moveTo(to)}`, [
    field(S.note, h("textarea", { name: "note", id: "f-note", maxlength: 2000, rows: 3 })),
  ], async (data) => {
    const note = data.get("note").trim();
    await outbox.add({
      kind: "transition", site: record.site.code, orderId: order.id, to,
      note: note || null, ifMatch: order.etag, label: S.labels.move(order.id, to),
    });
    order.state = to;
    order.next = (record.moves || {})[to] || [];
    return S.labels.move(order.id, to);
  });
}

export function photo(record, targetType, targetKey, what) {
  open(record, `${S.photo}: ${what}`, [field(S.photoLabel, photoInput())], async (data, form) => {
    const file = form.querySelector('input[name="photo"]').files[0];
    if (!file) throw new Error(S.required(S.photoLabel));
    return S.labels.photo(await queuePhoto(form, targetType, targetKey, record.site.code));
  });
}
