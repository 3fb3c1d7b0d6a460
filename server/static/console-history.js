// Policy changes, newest first, with what each changed: before and after side by side, changed keys marked.
import { gql } from "./console-api.js";
import { h, table } from "./console-dom.js";
import { choice, code, field, showErrors, text, values } from "./console-forms.js";
import { t } from "./console-i18n.js";

const HISTORY = `query History($resource: String, $department: String, $kind: ChangeKind, $before: Int) {
  policyChanges(resource: $resource, department: $department, kind: $kind, first: 50, before: $before) {
    id at actor actorDepartment kind operation domain resource department before after reason reverts
  }
}`;

const state = { filter: {} };

// before/after as key: value lines; keys whose value differs between the two are marked.
function snapshot(value, other) {
  if (value === null || value === undefined) return h("span", { class: "hint" }, "–");
  if (typeof value !== "object" || Array.isArray(value)) return h("pre", { class: "json" }, JSON.stringify(value));
  const others = other && typeof other === "object" ? other : {};
  return h("div", { class: "json" }, Object.entries(value).map(([key, v]) =>
    h("div", { class: JSON.stringify(v) !== JSON.stringify(others[key]) ? "changed" : null },
      `${key}: ${JSON.stringify(v)}`)));
}

export async function render(main) {
  const f = state.filter;
  const list = h("div", { id: "history-list" });
  const form = h("form", { class: "filters", id: "history-filter" },
    field("resource", t("resource"), text(f.resource)),
    field("department", t("department"), text(f.department)),
    field("kind", t("kind"), choice([["", t("all")], ...["RULE", "CLASS", "ROLE", "GRANT", "GROUP"].map((k) => [k, k])],
                                    f.kind)),
    h("button", { type: "submit" }, t("filter")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = values(form);
    list.replaceChildren();
    load(form, list, null);
  });
  main.append(h("h1", {}, t("history")), h("section", {}, form, list));
  await load(form, list, null);
}

async function load(form, list, before) {
  const f = state.filter;
  const { data, errors } = await gql(HISTORY, { resource: f.resource || null, department: f.department || null,
                                                kind: f.kind || null, before });
  const more = list.querySelector("#history-older");
  if (more) more.remove();
  if (errors.length || !data) return showErrors(form, errors);
  showErrors(form, []);
  const changes = data.policyChanges;
  list.append(table([
    [t("id"), (c) => String(c.id), { key: "id" }],
    [t("at"), (c) => c.at.replace("T", " ").slice(0, 19)],
    [t("actor"), (c) => `${c.actor} (${c.actorDepartment})`],
    [t("kind"), (c) => `${c.kind} ${c.operation}`],
    [t("domain"), (c) => code(c.domain)],
    [t("resource"), (c) => code(c.resource || c.department)],
    [t("before"), (c) => snapshot(c.before, c.after), { key: "before" }],
    [t("after"), (c) => snapshot(c.after, c.before), { key: "after" }],
    [t("reason"), (c) => c.reason + (c.reverts ? ` (↶ #${c.reverts})` : "")],
  ], changes, { class: "history-page" }));
  if (changes.length === 50) {
    list.append(h("button", { type: "button", id: "history-older",
                              onclick: () => load(form, list, changes[changes.length - 1].id) }, t("older")));
  }
}
