// One site kept on the phone: what is there, and the buttons that record work on it.
import { $, h, show } from "./dom.js";
import { STRINGS as S } from "./strings.js";
import * as forms from "./forms.js";

function stateText(status) {
  return status && status.state ? status.state : "unknown";
}

export function render(record) {
  const section = $("site");
  const site = record.site;
  section.replaceChildren(
    h("button", { type: "button", class: "back", onclick: () => show("sites") }, S.back),
    h("h2", { id: "site-title" }, `${site.code} · ${site.name}`),
    h("p", { class: "state", dataset: { state: stateText(site.status) } }, stateText(site.status)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => forms.install(record) }, S.install),
      h("button", { type: "button", onclick: () => forms.photo(record, "sites", site.code, site.code) }, S.photo),
    ),
    h("h3", {}, S.ordersTitle),
    record.work_orders.length
      ? h("ul", { class: "cards", "aria-label": S.ordersTitle }, record.work_orders.map((o) => order(record, o)))
      : h("p", {}, S.noOrders),
    h("h3", {}, S.devicesTitle),
    h("ul", { class: "cards", "aria-label": S.devicesTitle },
      record.devices.filter((d) => d.lifecycle !== "retired").map((d) => device(record, d))),
    h("h3", {}, S.linksTitle),
    h("ul", { class: "cards", "aria-label": S.linksTitle }, record.links.map((l) => link(record, l))),
    h("h3", {}, S.gapsTitle),
    record.gaps.length
      ? h("ul", { class: "plain" }, record.gaps.map((g) => h("li", {}, `${g.severity}: ${g.rule_id} (${g.subject})`)))
      : h("p", {}, S.noGaps),
    h("h3", {}, S.eventsTitle),
    h("ul", { class: "plain" }, record.events.slice(0, 10).map((e) =>
      h("li", {}, `${e.at.slice(0, 16).replace("T", " ")} ${e.object_key || e.object_type}: ${e.old_state || "?"} → ${e.new_state}`))),
  );
  show("site");
}

function order(record, o) {
  return h("li", { class: "card", dataset: { order: o.id, state: o.state } },
    h("p", { class: "title" }, `#${o.id} ${o.title}`),
    h("p", {}, `${o.kind} · `, h("strong", { "data-field": "state" }, o.state)),
    h("div", { class: "actions" },
      (o.next || []).map((to) => h("button", { type: "button", class: "primary", onclick: () => forms.move(record, o, to) }, S.moveTo(to))),
      h("button", { type: "button", onclick: () => forms.photo(record, "work-orders", o.id, `#${o.id}`) }, S.photo),
    ),
  );
}

function device(record, d) {
  return h("li", { class: "card", dataset: { serial: d.serial, pending: d.pending ? "yes" : null } },
    h("p", { class: "title" }, `${d.kind || ""} ${d.serial}`),
    h("p", {}, `${d.model} · ${d.firmware_version || "?"} · ${d.lifecycle} · ${stateText(d.status)}`),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => forms.replace(record, d), "aria-label": `${S.replace} ${d.serial}` }, S.replace),
      h("button", { type: "button", onclick: () => forms.repair(record, d), "aria-label": `${S.repair} ${d.serial}` }, S.repair),
      h("button", { type: "button", onclick: () => forms.firmware(record, d), "aria-label": `${S.firmware} ${d.serial}` }, S.firmware),
      h("button", { type: "button", onclick: () => forms.photo(record, "devices", d.id, d.serial), "aria-label": `${S.photo} ${d.serial}` }, S.photo),
    ),
  );
}

function link(record, l) {
  return h("li", { class: "card", dataset: { circuit: l.circuit_id } },
    h("p", { class: "title" }, `${l.role} ${l.medium} ${l.circuit_id}`),
    h("p", {}, `${l.provider || ""} · ${l.bandwidth_kbps} kbit/s · ${l.lifecycle} · ${stateText(l.status)}`),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => forms.linkChange(record, l), "aria-label": `${S.editLink} ${l.circuit_id}` }, S.editLink)),
  );
}
