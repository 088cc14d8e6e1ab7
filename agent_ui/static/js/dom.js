// Building the page from data without ever parsing data as HTML.
//
// el("p", {class: "x"}, "text", child) creates an element; strings become text nodes
// (never innerHTML), so a customer name like "<script>" shows as those characters.

export function el(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "hidden" || name === "disabled" || name === "checked" || name === "selected") {
      element[name] = Boolean(value);
    } else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

export function $(selector, root) {
  return (root || document).querySelector(selector);
}

// A short message in the corner (polite live region): saved, failed.
export function toast(message, kind) {
  const area = document.getElementById("toasts");
  if (!area) return;
  const item = el("div", { class: kind === "error" ? "toast toast-error" : "toast" }, message);
  area.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}
