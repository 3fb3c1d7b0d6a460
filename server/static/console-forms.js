// Form fields with a place for the server's validation error: a BAD_USER_INPUT error names its `field`
// (extensions.field), and the message is shown under the input of that name.
import { h, select } from "./console-dom.js";
import { t } from "./console-i18n.js";

export function field(name, label, input) {
  input.setAttribute("name", name);
  input.dataset.field = name;
  return h("label", { "data-field-box": name }, label, input, h("span", { class: "field-error", "data-error-for": name }));
}

export function text(value, attrs) {
  return h("input", { type: "text", value: value || "", dir: "auto", autocomplete: "off", ...(attrs || {}) });
}

export function choice(options, selected) {
  return select({}, options, selected);
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) general.remove();
}

// Shows each error at its field when the form has one, otherwise above the form's buttons.
export function showErrors(form, errors) {
  clearErrors(form);
  const general = [];
  for (const error of errors) {
    const ext = error.extensions || {};
    const slot = ext.field && form.querySelector(`[data-error-for="${CSS.escape(ext.field)}"]`);
    if (slot) {
      // The accepted values, unless the message lists them already (an unknown item names the resource's items).
      const listed = Array.isArray(ext.accepted) && ext.accepted.every((value) => error.message.includes(value));
      const accepted = Array.isArray(ext.accepted) && ext.accepted.length && !listed
        ? ` (${ext.accepted.join(", ")})` : "";
      slot.textContent = error.message + accepted;
      form.querySelector(`[data-field="${CSS.escape(ext.field)}"]`).setAttribute("aria-invalid", "true");
    } else {
      general.push(ext.code ? `${ext.code}: ${error.message}` : error.message);
    }
  }
  if (general.length) {
    form.append(h("p", { class: "form-error error", role: "alert" }, general.join("; ")));
  }
}

export function values(form) {
  const result = {};
  for (const element of form.elements) {
    if (element.name) result[element.name] = element.value.trim();
  }
  return result;
}

export const ACTIONS = () => [["", t("any")], ["READ", t("read")], ["VERIFY", t("verify")]];
export const EFFECTS = () => [["", t("any")], ["ALLOW", t("allow")], ["DENY", t("deny")]];
export const SHARE_CLASSES = () => [["", t("any")], ["UNCONDITIONAL", t("unconditional")],
  ["CONDITIONAL", t("conditional")], ["NOT_SHARED", t("notShared")]];
export const GRANT_STATES = () => [["", t("any")], ...["ACTIVE", "NONE", "PURPOSE_MISSING", "PURPOSE_MISMATCH",
  "NOT_YET_VALID", "EXPIRED", "REVOKED"].map((s) => [s, s])];

// Decision outcome as text: allowed, or denied with the reason code.
export function outcome(decision) {
  return h("span", { class: decision.allowed ? "allowed" : "denied" },
    decision.allowed ? t("allowed") : `${t("denied")}${decision.reason ? ` (${decision.reason})` : ""}`);
}

export function code(value) {
  return h("span", { class: "code" }, value ?? "–");
}
