// Small helpers to build the page: elements with text (never HTML from data), announcements.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function $(id) {
  return document.getElementById(id);
}

export function announce(text) {
  const region = $("announce");
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// Show one screen and move the focus to its heading (not when the app opens: the first Tab
// then reaches the skip link).
export function show(id, focus = true) {
  for (const name of ["sites", "site", "form"]) $(name).hidden = name !== id;
  const section = $(id);
  const heading = section.querySelector("h2");
  if (heading && focus) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint" }, hint) : null);
}
