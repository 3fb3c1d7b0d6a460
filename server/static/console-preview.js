// The impact of a rule change before it is saved: previewPolicyChange decides every department against
// every item with and without the change; nothing is stored.
import { gql } from "./console-api.js";
import { formatNumber, h, table } from "./console-dom.js";
import { code, outcome } from "./console-forms.js";
import { t } from "./console-i18n.js";

const PREVIEW = `query Preview($add: [RuleInput!], $remove: [Int!]) {
  previewPolicyChange(add: $add, remove: $remove, limit: 50) {
    totalChanges departmentsConsidered itemsConsidered elapsedMs unavailableDatabases
    changes { departments resource item action grantState before { allowed reason } after { allowed reason } }
  }
}`;

export async function preview(change) {
  return gql(PREVIEW, { add: change.add || null, remove: change.remove || null });
}

export function previewPanel(result, id) {
  const departments = (list) => (list.length > 6 ? `${list.slice(0, 6).join(", ")} … (+${list.length - 6})`
                                                    : list.join(", "));
  return h("div", { class: "preview card", id },
    h("h3", {}, t("previewTitle")),
    h("p", {}, h("strong", { class: "total-changes" }, formatNumber(result.totalChanges)), ` ${t("totalChanges")} · `,
      `${formatNumber(result.departmentsConsidered)} ${t("departmentsConsidered")} · `,
      `${formatNumber(result.itemsConsidered)} ${t("itemsConsidered")} · ${result.elapsedMs.toFixed(0)} ms`),
    result.unavailableDatabases.length ? h("p", { class: "warning" },
      `${t("unavailable")}: ${result.unavailableDatabases.join(", ")}`) : null,
    result.changes.length ? table([
      [t("department"), (c) => h("span", { class: "code" }, departments(c.departments))],
      [t("resource"), (c) => code(c.resource)],
      [t("item"), (c) => code(c.item)],
      [t("action"), (c) => c.action],
      [t("grantState"), (c) => c.grantState],
      [t("before"), (c) => outcome(c.before)],
      [t("after"), (c) => outcome(c.after)],
    ], result.changes) : null);
}
