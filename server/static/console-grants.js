// Grants (grant.read) with their effective state and the days of validity left.
import { gql } from "./console-api.js";
import { chinaDay, h, table } from "./console-dom.js";
import { choice, code, field, showErrors, text, values } from "./console-forms.js";
import { t } from "./console-i18n.js";

const GRANTS = `query Grants($department: String, $resource: String, $state: GrantEffectiveState) {
  grants(department: $department, resource: $resource, state: $state) {
    id department resource items purpose validFrom validUntil divisions state revokedAt revokeReason createdBy
  }
}`;

const STATES = () => [["", t("all")], ["ACTIVE", t("active")], ["EXPIRED", t("expired")],
  ["NOT_YET_VALID", t("notYetValid")], ["REVOKED", t("revoked")]];
const state = { filter: { state: "ACTIVE" } };

// Whole days until validUntil (exclusive: 00:00 China Standard Time after the last day); null once over.
export function remainingDays(grant, now) {
  if (grant.state !== "ACTIVE") return null;
  return Math.max(0, Math.ceil((Date.parse(grant.validUntil) - now) / 86400000));
}

export async function render(main) {
  const f = state.filter;
  const list = h("div", { id: "grants-list" });
  const form = h("form", { class: "filters", id: "grants-filter" },
    field("department", t("department"), text(f.department)),
    field("resource", t("resource"), text(f.resource)),
    field("state", t("state"), choice(STATES(), f.state)),
    h("button", { type: "submit" }, t("filter")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = values(form);
    load(form, list);
  });
  main.append(h("h1", {}, t("grants")), h("section", {}, form, list));
  await load(form, list);
}

async function load(form, list) {
  const f = state.filter;
  const { data, errors } = await gql(GRANTS, { department: f.department || null, resource: f.resource || null,
                                               state: f.state || null });
  if (errors.length || !data) {
    list.replaceChildren();
    return showErrors(form, errors);
  }
  showErrors(form, []);
  const now = Date.now();
  list.replaceChildren(table([
    [t("id"), (g) => String(g.id), { key: "id" }],
    [t("department"), (g) => code(g.department), { key: "department" }],
    [t("resource"), (g) => code(g.resource)],
    [t("items"), (g) => g.items.join(", ")],
    [t("purpose"), (g) => g.purpose],
    [t("validFrom"), (g) => chinaDay(Date.parse(g.validFrom))],
    // validUntil is exclusive (00:00 CST after the last day): the last day a grant is valid is shown.
    [t("validUntil"), (g) => chinaDay(Date.parse(g.validUntil) - 1), { key: "validUntil" }],
    [t("remainingDays"), (g) => { const d = remainingDays(g, now); return d === null ? "–" : String(d); },
     { numeric: true, key: "remainingDays" }],
    [t("state"), (g) => g.state + (g.revokeReason ? ` (${g.revokeReason})` : ""), { key: "state" }],
    [t("divisions"), (g) => (g.divisions ? g.divisions.join(", ") : t("all"))],
  ], data.grants, { id: "grants-table" }));
}
