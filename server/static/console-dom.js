// A tiny DOM builder: every text goes through textContent (never innerHTML), so nothing an answer
// contains is ever parsed as markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A <select> from [value, label] pairs.
export function select(attrs, options, selected) {
  return h("select", attrs, options.map(([value, label]) =>
    h("option", { value, selected: String(value) === String(selected ?? "") }, label)));
}

// A table: columns are [label, row => cell, {numeric}]; rows are objects.
export function table(columns, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, columns.map(([label, , opts]) =>
      h("th", { class: opts && opts.numeric ? "num" : null }, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, opts]) =>
      h("td", { class: opts && opts.numeric ? "num" : null, "data-col": opts && opts.key }, cell(row)))))));
}

export function formatNumber(value, digits) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-US", digits === undefined ? {} :
    { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// A moment (milliseconds) as its calendar day in China Standard Time (UTC+8), the zone grants are given in.
export function chinaDay(milliseconds) {
  return new Date(milliseconds + 8 * 3600000).toISOString().slice(0, 10);
}
