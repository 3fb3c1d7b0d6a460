// Access rules (policy.read): filter, and for policy admins (policy.write in the rule's domain) add with
// an impact preview before saving, and remove with a reason. The server validates; its errors are shown
// at the field they name.
import { gql } from "./console-api.js";
import { h, table } from "./console-dom.js";
import { ACTIONS, choice, clearErrors, code, EFFECTS, field, GRANT_STATES, SHARE_CLASSES, showErrors, text,
         values } from "./console-forms.js";
import { t } from "./console-i18n.js";
import { preview, previewPanel } from "./console-preview.js";

const RULES = `query Rules($filter: RuleFilterInput) {
  accessRules(filter: $filter) { id subject resource item shareClass action grantState effect domain loaded problem note }
}`;
const ADD = `mutation AddRule($rule: RuleInput!, $reason: String!) {
  addRule(rule: $rule, reason: $reason) { rule { id domain } change { id at actor } }
}`;
const REMOVE = `mutation RemoveRule($id: Int!, $reason: String!) {
  removeRule(id: $id, reason: $reason) { rule { id } change { id at actor } }
}`;

const state = { filter: {}, draft: { item: "*", effect: "DENY" }, message: null };

function ruleInput(v) {
  const rule = { subject: v.subject, resource: v.resource, item: v.item || "*", effect: v.effect || "ALLOW" };
  if (v.shareClass) rule.shareClass = v.shareClass;
  if (v.action) rule.action = v.action;
  if (v.grantState) rule.grantState = v.grantState;
  return rule;
}

export async function render(main, session) {
  const writable = session.may("policy.write");
  const list = h("div", { id: "rules-list", "aria-busy": "true" });
  const f = state.filter;
  const filters = h("form", { class: "filters", id: "rules-filter" },
    field("subject", t("subject"), text(f.subject)),
    field("appliesTo", t("appliesTo"), text(f.appliesTo, { placeholder: "650100-MZ" })),
    field("resource", t("resource"), text(f.resource)),
    field("item", t("item"), text(f.item)),
    field("action", t("action"), choice(ACTIONS(), f.action)),
    field("effect", t("effect"), choice(EFFECTS(), f.effect)),
    h("button", { type: "submit" }, t("filter")));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = values(filters);
    load(list, filters, session);
  });
  main.append(h("h1", {}, t("rules")),
    h("div", {}, state.message ? h("p", { id: "rules-message", class: "allowed", role: "status" }, state.message)
                               : null),
    writable ? addForm(() => { main.replaceChildren(); return render(main, session); })
             : h("p", { class: "hint" }, t("readOnly")),
    h("section", {}, filters, list));
  await load(list, filters, session);
}

function addForm(redraw) {
  const d = state.draft;
  const outcomeBox = h("div", { id: "rules-preview" });
  const saveButton = h("button", { type: "button", id: "rule-save", class: "primary", disabled: true,
                                   title: t("previewFirst") }, t("save"));
  const form = h("form", { id: "rule-add", class: "card" }, h("h2", {}, t("addRule")),
    h("div", { class: "fields" },
      field("subject", t("subject"), text(d.subject, { placeholder: "650100-JY, kind:MZ, level:county" })),
      field("resource", t("resource"), text(d.resource, { placeholder: "650000-B01-000001" })),
      field("item", t("item"), text(d.item)),
      field("shareClass", t("shareClass"), choice(SHARE_CLASSES(), d.shareClass)),
      field("action", t("action"), choice(ACTIONS(), d.action)),
      field("grantState", t("grantState"), choice(GRANT_STATES(), d.grantState)),
      field("effect", t("effect"), choice(EFFECTS().slice(1), d.effect)),
      field("reason", t("reason"), text(d.reason, { size: 40 }))),
    h("div", { class: "fields" }, h("button", { type: "submit", id: "rule-preview" }, t("preview")), saveButton),
    outcomeBox);
  let previewed = null; // the exact rule the preview shown is for: saving anything else needs a new preview
  const current = () => ruleInput(values(form));
  form.addEventListener("input", () => {
    state.draft = values(form);
    saveButton.disabled = previewed !== JSON.stringify(current());
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.message = null;
    const rule = current();
    const { data, errors } = await preview({ add: [rule] });
    outcomeBox.replaceChildren();
    if (errors.length || !data) {
      previewed = null;
      saveButton.disabled = true;
      return showErrors(form, errors);
    }
    clearErrors(form);
    previewed = JSON.stringify(rule);
    saveButton.disabled = false;
    outcomeBox.append(previewPanel(data.previewPolicyChange, "rule-preview-result"));
  });
  saveButton.addEventListener("click", async () => {
    const rule = current();
    if (previewed !== JSON.stringify(rule)) return;
    const { data, errors } = await gql(ADD, { rule, reason: values(form).reason });
    if (errors.length || !data || !data.addRule) return showErrors(form, errors);
    const added = data.addRule;
    state.message = `${t("saved")}: ${t("ruleId")} #${added.rule.id} (${added.rule.domain}) · ${added.change.actor}`;
    state.draft = { item: "*", effect: "DENY" };
    await redraw();
  });
  return form;
}

async function load(list, filters, session) {
  list.setAttribute("aria-busy", "true");
  const filter = {};
  for (const [key, value] of Object.entries(state.filter)) if (value) filter[key] = value;
  const { data, errors } = await gql(RULES, { filter });
  if (errors.length) {
    showErrors(filters, errors);
    list.replaceChildren();
  } else {
    clearErrors(filters);
    const rules = data.accessRules;
    list.replaceChildren(table([
      [t("id"), (r) => String(r.id), { key: "id" }],
      [t("subject"), (r) => code(r.subject), { key: "subject" }],
      [t("resource"), (r) => code(r.resource), { key: "resource" }],
      [t("item"), (r) => code(r.item), { key: "item" }],
      [t("shareClass"), (r) => r.shareClass],
      [t("action"), (r) => r.action],
      [t("grantState"), (r) => r.grantState],
      [t("effect"), (r) => h("span", { class: r.effect.toLowerCase() === "deny" ? "denied" : "allowed" }, r.effect),
       { key: "effect" }],
      [t("domain"), (r) => code(r.domain)],
      [t("loaded"), (r) => (r.loaded ? "✓" : `✗ ${r.problem || ""}`)],
      [t("note"), (r) => r.note || ""],
      ["", (r) => (session.mayIn("policy.write", r.domain)
        ? h("button", { type: "button", class: "remove", "data-rule": r.id,
                        onclick: (event) => removeRow(event.target, r, list, filters, session) }, t("remove"))
        : null)],
    ], rules, { id: "rules-table" }));
  }
  list.setAttribute("aria-busy", "false");
}

// Removing: the impact first, then a reason, then the removal.
async function removeRow(button, rule, list, filters, session) {
  const row = button.closest("tr");
  const existing = list.querySelector(`#remove-${rule.id}`);
  if (existing) return existing.remove();
  const form = h("form", { class: "fields", id: `remove-form-${rule.id}` },
    field("reason", t("reason"), text("", { size: 40 })),
    h("button", { type: "submit", class: "primary" }, t("confirmRemove")),
    h("button", { type: "button", onclick: () => box.remove() }, t("cancel")));
  const cell = h("td", { colspan: row.children.length }, form);
  const box = h("tr", { id: `remove-${rule.id}`, class: "remove-box" }, cell);
  row.after(box);
  const { data, errors } = await preview({ remove: [rule.id] });
  if (data) cell.append(previewPanel(data.previewPolicyChange, `remove-preview-${rule.id}`));
  else showErrors(form, errors);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await gql(REMOVE, { id: rule.id, reason: values(form).reason });
    if (answer.errors.length || !answer.data) return showErrors(form, answer.errors);
    state.message = `${t("removed")}: ${t("ruleId")} #${rule.id}`;
    const message = document.getElementById("rules-message") || h("p", { id: "rules-message", class: "allowed",
                                                                           role: "status" });
    message.textContent = state.message;
    if (!message.isConnected) list.parentElement.before(message);
    await load(list, filters, session);
  });
}
