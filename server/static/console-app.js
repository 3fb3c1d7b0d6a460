// The console shell: sign-in, who the caller is, which pages exist for them, and the page switcher.
// A page the caller's roles do not allow is not offered at all (absent, not an error).
import { forgetToken, gql, savedToken, saveToken, SignInNeeded } from "./console-api.js";
import { h } from "./console-dom.js";
import { apply, graphqlLanguage, language, setLanguage, t } from "./console-i18n.js";

const ME = `query Me($lang: Language) {
  me { user department node roles { role domain } permissions { action domains } }
  nodes(lang: $lang) { code name level }
}`;
const NODES = "query Nodes($lang: Language) { nodes(lang: $lang) { code name level } }";

// Pages in menu order: the permission that makes each one appear and the module that draws it.
const PAGES = [
  { id: "dashboard", needs: "stats.read", load: () => import("./console-dashboard.js") },
  { id: "rules", needs: "policy.read", load: () => import("./console-rules.js") },
  { id: "explain", needs: null, load: () => import("./console-explain.js") },
  { id: "history", needs: "policy.read", load: () => import("./console-history.js") },
  { id: "grants", needs: "grant.read", load: () => import("./console-grants.js") },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signOutButton = document.getElementById("sign-out");
const languageSelect = document.getElementById("lang");

// What every page gets: the caller, the nodes, and what the caller may do where.
export class Session {
  constructor(me, nodes) {
    this.me = me;
    this.nodes = nodes;
    this.nodesLanguage = language();
    this.region = (nodes.find((n) => n.level === "REGION") || { code: "650000" }).code;
    this.permissions = new Map(me.permissions.map((p) => [p.action, p.domains]));
  }

  may(action) {
    return this.permissions.has(action);
  }

  // May the caller do ACTION in DOMAIN (a node code)? The region's domain covers every node.
  mayIn(action, domain) {
    const domains = this.permissions.get(action) || [];
    return domains.includes(domain) || domains.includes(this.region);
  }
}

let session = null;
let rendering = 0;

function showSignIn(message) {
  ++rendering;  // a render still waiting (signed out mid-load) must not replace the form when it resumes
  nav.replaceChildren();
  who.replaceChildren();
  signOutButton.hidden = true;
  const area = h("textarea", { id: "token", rows: 4, required: true, spellcheck: "false", autocomplete: "off",
                                placeholder: "eyJ…" });
  const form = h("form", { id: "token-form", class: "card narrow" },
    h("h1", {}, t("signIn")),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("label", { for: "token" }, t("token")), area,
    h("p", {}, t("tokenHelp")),
    h("pre", { dir: "ltr" }, "./dev token 650000-ZW --user supervisor.region\n" +
      "./dev token 650000-ZW --user admin.region\n./dev token 650100-MZ --user developer.urumqi"),
    h("p", { class: "hint" }, t("tokenKept")),
    h("button", { type: "submit" }, t("useToken")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (saveToken(area.value)) start();
  });
  main.replaceChildren(form);
  area.focus();
}

async function start() {
  if (!savedToken()) return showSignIn();
  let answer;
  try {
    answer = await gql(ME, { lang: graphqlLanguage() });
  } catch (exc) {
    if (exc instanceof SignInNeeded) {
      forgetToken();
      return showSignIn(t("tokenRejected"));
    }
    throw exc;
  }
  if (!answer.data || !answer.data.me) {
    forgetToken();
    return showSignIn(answer.errors.map((e) => e.message).join("; ") || t("tokenRejected"));
  }
  session = new Session(answer.data.me, answer.data.nodes || []);
  render();
}

function pagesFor(current) {
  return PAGES.filter((page) => !page.needs || current.may(page.needs));
}

async function render() {
  // Renders overlap (language switch, hash change, sign-out while a page loads): only the newest one may
  // touch the page, so each checks after every wait that it is still the newest.
  const mine = ++rendering;
  apply();
  languageSelect.value = language();
  signOutButton.textContent = t("signOut");
  if (!session) return showSignIn();
  const current = session;
  const me = current.me;
  signOutButton.hidden = false;
  if (current.nodesLanguage !== language()) {  // node names in the language chosen
    const { data } = await gql(NODES, { lang: graphqlLanguage() });
    if (mine !== rendering) return;
    if (data && data.nodes) current.nodes = data.nodes;
    current.nodesLanguage = language();
  }
  who.replaceChildren(h("span", { title: t("you") }, me.user), " · ", h("span", { dir: "ltr" }, me.department),
    me.roles.length ? h("span", { class: "roles" }, " (", me.roles.map((r) => `${r.role}@${r.domain}`).join(", "),
      ")") : null);
  const pages = pagesFor(current);
  const wanted = window.location.hash.slice(1);
  const page = pages.find((p) => p.id === wanted) || pages[0];
  nav.replaceChildren(...pages.map((p) => h("a", { href: "#" + p.id, id: "nav-" + p.id,
                                                   "aria-current": p === page ? "page" : null }, t(p.id))),
    h("a", { href: "/graphql", id: "nav-graphiql" }, t("graphiql")));
  if (!page) {
    main.replaceChildren(h("p", { id: "no-pages", class: "empty" }, t("noPages")));
    return;
  }
  const module = await page.load();
  if (mine !== rendering) return;
  // A page of its own: a page module that is still filling it when a newer render starts writes into
  // this detached element, never over the newer page or the sign-in form.
  const view = h("div", { class: "view" });
  main.replaceChildren(view);
  try {
    await module.render(view, current);
  } catch (exc) {
    if (mine !== rendering) return;
    if (exc instanceof SignInNeeded) {
      forgetToken();
      session = null;
      return showSignIn(t("tokenRejected"));
    }
    view.append(h("p", { class: "error", role: "alert" }, `${t("error")}: ${exc.message}`));
  }
}

languageSelect.addEventListener("change", () => {
  setLanguage(languageSelect.value);
  render();
});
signOutButton.addEventListener("click", () => {
  forgetToken();
  session = null;
  window.location.hash = "";
  showSignIn();
});
window.addEventListener("hashchange", () => render());

apply();
languageSelect.value = language();
start();
