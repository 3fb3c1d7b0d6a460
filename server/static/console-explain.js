// "Why can X (not) read Y?": explain gives the decision a real query makes, the rules that matched and
// the grant that applied. Anyone may ask about their own department; policy.read asks about any.
import { gql } from "./console-api.js";
import { chinaDay, h, table } from "./console-dom.js";
import { ACTIONS, choice, code, field, outcome, showErrors, text, values } from "./console-forms.js";
import { t } from "./console-i18n.js";

const EXPLAIN = `query Explain($department: String!, $resource: String!, $item: String!, $action: DataAction!,
                               $purpose: String) {
  explain(department: $department, resource: $resource, item: $item, action: $action, purpose: $purpose) {
    department resource item action allowed reason shareClass condition legalBasis grantState
    grant { id purpose validFrom validUntil divisions } rowScope howToRequest at
    matchedRules { id subject resource item shareClass action grantState effect domain }
  }
}`;

const state = { question: null };

export async function render(main, session) {
  const anyone = session.may("policy.read");
  const q = state.question || { department: session.me.department, action: "READ" };
  if (!anyone) q.department = session.me.department;
  const answer = h("div", { id: "explain-answer" });
  const form = h("form", { class: "card", id: "explain-form" },
    h("div", { class: "fields" },
      field("department", t("department"), text(q.department, { readonly: !anyone })),
      field("resource", t("resource"), text(q.resource, { placeholder: "650000-B01-000001" })),
      field("item", t("item"), text(q.item, { placeholder: "birth_date" })),
      field("action", t("action"), choice(ACTIONS().slice(1), q.action)),
      field("purpose", t("purpose"), text(q.purpose, { size: 30 })),
      h("button", { type: "submit", id: "explain-ask" }, t("ask"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.question = values(form);
    await ask(form, answer);
  });
  main.append(h("h1", {}, t("explain")), form, answer);
  if (state.question && state.question.resource && state.question.item) await ask(form, answer);
}

async function ask(form, answer) {
  const q = state.question;
  answer.setAttribute("aria-busy", "true");
  const { data, errors } = await gql(EXPLAIN, { department: q.department, resource: q.resource, item: q.item,
                                                action: q.action || "READ", purpose: q.purpose || null });
  answer.replaceChildren();
  if (errors.length || !data) {
    showErrors(form, errors);
  } else {
    showErrors(form, []);
    const e = data.explain;
    answer.append(h("section", { id: "explanation" },
      h("h2", {}, outcome(e)),
      h("dl", {},
        h("dt", {}, t("shareClass")), h("dd", {}, e.shareClass),
        e.condition ? [h("dt", {}, t("condition")), h("dd", {}, e.condition)] : null,
        e.legalBasis ? [h("dt", {}, t("legalBasis")), h("dd", {}, e.legalBasis)] : null,
        h("dt", {}, t("grantState")), h("dd", {}, e.grantState),
        e.grant ? [h("dt", {}, t("grant")), h("dd", {},
          `#${e.grant.id} · ${e.grant.purpose} · ${chinaDay(Date.parse(e.grant.validUntil) - 1)}`)] : null,
        e.rowScope ? [h("dt", {}, t("rowScope")), h("dd", {}, e.rowScope.join(", "))] : null,
        e.howToRequest ? [h("dt", {}, t("howToRequest")), h("dd", {}, e.howToRequest)] : null),
      h("h3", {}, t("matchedRules")),
      table([
        [t("id"), (r) => String(r.id), { key: "id" }],
        [t("subject"), (r) => code(r.subject)],
        [t("resource"), (r) => code(r.resource)],
        [t("item"), (r) => code(r.item)],
        [t("shareClass"), (r) => r.shareClass],
        [t("action"), (r) => r.action],
        [t("grantState"), (r) => r.grantState],
        [t("effect"), (r) => r.effect, { key: "effect" }],
        [t("domain"), (r) => code(r.domain)],
      ], e.matchedRules, { id: "matched-rules" })));
  }
  answer.setAttribute("aria-busy", "false");
}
