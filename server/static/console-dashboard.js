// Supervision dashboard (stats.read): share classes per node and department from catalogStatistics,
// use between departments from usageStatistics; filters by node, level and period.
import { gql } from "./console-api.js";
import { chart, stackedBars } from "./console-charts.js";
import { chinaDay, formatNumber, h, select, table } from "./console-dom.js";
import { graphqlLanguage, language, t } from "./console-i18n.js";

const COUNTS = `resources dataItems unconditionalItems conditionalItems notSharedItems
  notSharedWithoutLegalBasis missingUyghurNames overdueUpdates`;

const REQUEST_COUNTS = `received approved partlyApproved rejected withdrawn pending overdue replied repliedLate
  medianReplyWorkingDays p90ReplyWorkingDays`;
const GRANT_USE = "id grantee resource items purpose validUntil uses lastUsedAt";

const DASHBOARD = `query Dashboard($nodes: [String!], $since: DateTime, $until: DateTime) {
  byNode: catalogStatistics(groupBy: [NODE, LEVEL], nodes: $nodes) { rows { node level ${COUNTS} } unavailableNodes }
  byProvider: catalogStatistics(groupBy: [PROVIDER, LEVEL], nodes: $nodes) {
    rows { provider level ${COUNTS} } unavailableNodes }
  usage: usageStatistics(since: $since, until: $until, nodes: $nodes) {
    rows { department resource provider action requests rows requestsWithDenials deniedFields refused }
    unavailableNodes }
  requestsByNode: requestStatistics(groupBy: [NODE], since: $since, until: $until, nodes: $nodes) {
    rows { node ${REQUEST_COUNTS} } unavailableNodes }
  requestsByProvider: requestStatistics(groupBy: [PROVIDER], since: $since, until: $until, nodes: $nodes) {
    rows { provider ${REQUEST_COUNTS} } unavailableNodes }
  denials: deniedFieldStatistics(since: $since, until: $until, nodes: $nodes) {
    rows { department resource item reason denials } unavailableNodes }
  grantUse: grantStatistics(expiringWithinDays: 30, nodes: $nodes) {
    expiringSoon { ${GRANT_USE} } neverUsed { ${GRANT_USE} } unavailableNodes }
  conflicts: sourceConflicts(nodes: $nodes) { kind resource database table column applied detail }
}`;

// Its own request: a schema without assessment (an older server) leaves the rest of the dashboard intact.
const ASSESSMENT = `query Assessment($nodes: [String!], $since: DateTime, $until: DateTime) {
  assessment(nodes: $nodes, since: $since, until: $until) {
    rows { department node score parts { name weight ratio points detail } } unavailableNodes }
}`;
const PARTS = ["names", "legal_basis", "sharing", "timeliness", "requests", "use"];

const DEPARTMENTS = `query Departments($after: String, $lang: Language) {
  departments(first: 100, after: $after, lang: $lang) {
    edges { node { code name level node } } pageInfo { hasNextPage endCursor } }
}`;

const PERIODS = [7, 30, 90, 365];
const state = { node: "", level: "", days: 30 };
const departmentNames = { lang: null, byCode: new Map() };

async function loadDepartments() {
  if (departmentNames.lang === language()) return;
  const byCode = new Map();
  let after = null;
  for (let page = 0; page < 50; page++) {
    const { data } = await gql(DEPARTMENTS, { after, lang: graphqlLanguage() });
    const connection = data && data.departments;
    if (!connection) break;
    for (const edge of connection.edges) byCode.set(edge.node.code, edge.node);
    if (!connection.pageInfo.hasNextPage) break;
    after = connection.pageInfo.endCursor;
  }
  departmentNames.lang = language();
  departmentNames.byCode = byCode;
}

// Sums count rows into one per key (the dashboard's level filter and totals are sums of the answer's rows).
function sumBy(rows, key) {
  const sums = new Map();
  for (const row of rows) {
    const k = key(row);
    const sum = sums.get(k) || { key: k, resources: 0, dataItems: 0, unconditionalItems: 0, conditionalItems: 0,
      notSharedItems: 0, notSharedWithoutLegalBasis: 0, missingUyghurNames: 0, overdueUpdates: 0 };
    for (const field of Object.keys(sum)) if (field !== "key") sum[field] += row[field];
    sums.set(k, sum);
  }
  return [...sums.values()];
}

function shareRatio(row) {
  return row.dataItems ? (row.unconditionalItems + row.conditionalItems) / row.dataItems : null;
}

function percent(value) {
  return value === null ? "–" : `${(value * 100).toFixed(1)}%`;
}

function countColumns() {
  return [
    [t("resources"), (r) => formatNumber(r.resources), { numeric: true, key: "resources" }],
    [t("dataItems"), (r) => formatNumber(r.dataItems), { numeric: true, key: "dataItems" }],
    [t("unconditional"), (r) => formatNumber(r.unconditionalItems), { numeric: true, key: "unconditionalItems" }],
    [t("conditional"), (r) => formatNumber(r.conditionalItems), { numeric: true, key: "conditionalItems" }],
    [t("notShared"), (r) => formatNumber(r.notSharedItems), { numeric: true, key: "notSharedItems" }],
    [t("shareRatio"), (r) => percent(shareRatio(r)), { numeric: true, key: "shareRatio" }],
    [t("noLegalBasis"), (r) => formatNumber(r.notSharedWithoutLegalBasis), { numeric: true, key: "notSharedWithoutLegalBasis" }],
    [t("missingUyghur"), (r) => formatNumber(r.missingUyghurNames), { numeric: true, key: "missingUyghurNames" }],
    [t("overdueUpdates"), (r) => formatNumber(r.overdueUpdates), { numeric: true, key: "overdueUpdates" }],
  ];
}

function kpi(id, label, value) {
  return h("div", { class: "kpi", id }, h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label));
}

export async function render(main, session) {
  const nodeName = (code) => (session.nodes.find((n) => n.code === code) || { name: code }).name;
  const filters = h("form", { class: "filters", id: "dashboard-filters" },
    h("label", {}, t("node"), select({ id: "filter-node", name: "node" },
      [["", t("all")], ...session.nodes.map((n) => [n.code, `${n.code} ${n.name}`])], state.node)),
    h("label", {}, t("level"), select({ id: "filter-level", name: "level" },
      [["", t("all")], ["region", t("region")], ["prefecture", t("prefecture")], ["county", t("county")]], state.level)),
    h("label", {}, t("period"), select({ id: "filter-period", name: "period" },
      PERIODS.map((d) => [d, t(`days${d}`)]), state.days)));
  const body = h("div", { id: "dashboard-body", "aria-busy": "true" });
  main.append(h("h1", {}, t("dashboard")), filters, body);
  filters.addEventListener("change", () => {
    state.node = filters.elements.node.value;
    state.level = filters.elements.level.value;
    state.days = Number(filters.elements.period.value);
    draw(body, nodeName);
  });
  await draw(body, nodeName);
}

let drawing = 0;

async function draw(body, nodeName) {
  const mine = ++drawing;
  body.setAttribute("aria-busy", "true");
  const until = new Date();
  const since = new Date(until.getTime() - state.days * 86400000);
  const variables = { nodes: state.node ? [state.node] : null, since: since.toISOString(), until: until.toISOString() };
  const [answer, scores] = await Promise.all([gql(DASHBOARD, variables), gql(ASSESSMENT, variables),
                                              loadDepartments()]);
  if (mine !== drawing) return;  // a newer filter choice is being drawn: this answer is stale
  const data = answer.data || {};
  const rtl = document.documentElement.dir === "rtl";
  const levelOk = (row) => !state.level || row.level === state.level;
  const byNode = sumBy((data.byNode ? data.byNode.rows : []).filter(levelOk), (r) => r.node);
  const byProvider = sumBy((data.byProvider ? data.byProvider.rows : []).filter(levelOk), (r) => r.provider)
    .sort((a, b) => b.dataItems - a.dataItems || a.key.localeCompare(b.key));
  const total = sumBy(byNode, () => "total")[0] || sumBy([{ resources: 0, dataItems: 0, unconditionalItems: 0,
    conditionalItems: 0, notSharedItems: 0, notSharedWithoutLegalBasis: 0, missingUyghurNames: 0,
    overdueUpdates: 0 }], () => "total")[0];
  const department = (code) => departmentNames.byCode.get(code);
  // A department by name and code; data-code keeps the code for whoever reads the table (tests, copy).
  const deptLabel = (code) => h("span", { "data-code": code || "" },
    department(code) ? `${department(code).name} ` : "", h("span", { class: "code" }, code ? `(${code})` : "–"));
  const usageRows = (data.usage ? data.usage.rows : [])
    .filter((r) => !state.level || (department(r.department) || {}).level === state.level.toUpperCase());
  const pairs = new Map();
  for (const row of usageRows) {
    const key = `${row.department}→${row.provider || "?"}`;
    const pair = pairs.get(key) || { consumer: row.department, provider: row.provider, requests: 0, rows: 0,
                                     deniedFields: 0, refused: 0 };
    pair.requests += row.requests;
    pair.rows += row.rows;
    pair.deniedFields += row.deniedFields;
    pair.refused += row.refused;
    pairs.set(key, pair);
  }
  const usage = [...pairs.values()].sort((a, b) => b.requests - a.requests || a.consumer.localeCompare(b.consumer));
  const totalRequests = usage.reduce((n, p) => n + p.requests, 0);
  const unavailable = [...new Set(["byNode", "byProvider", "usage", "requestsByNode", "requestsByProvider",
    "denials", "grantUse"].flatMap((key) => (data[key] ? data[key].unavailableNodes : [])))].sort();
  const errors = answer.errors.filter((e) => (e.extensions || {}).code !== "NODE_UNAVAILABLE");
  const levelOfDepartment = (code) => !state.level || (department(code) || {}).level === state.level.toUpperCase();

  const requestsByNode = data.requestsByNode ? data.requestsByNode.rows : [];
  const requestsByProvider = (data.requestsByProvider ? data.requestsByProvider.rows : [])
    .filter((r) => levelOfDepartment(r.provider));
  const requestTotals = { received: 0, pending: 0, overdue: 0, replied: 0, repliedLate: 0 };
  for (const row of requestsByProvider) for (const key of Object.keys(requestTotals)) requestTotals[key] += row[key];

  const denialRows = (data.denials ? data.denials.rows : []).filter((r) => levelOfDepartment(r.department));
  const byReason = new Map();
  for (const row of denialRows) byReason.set(row.reason, (byReason.get(row.reason) || 0) + row.denials);
  const reasons = [...byReason.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

  const grantUse = data.grantUse || { expiringSoon: [], neverUsed: [] };
  const expiring = grantUse.expiringSoon.filter((g) => levelOfDepartment(g.grantee));
  const neverUsed = grantUse.neverUsed.filter((g) => levelOfDepartment(g.grantee));
  const conflicts = data.conflicts || [];

  const assessed = scores.data && scores.data.assessment;
  const scoreRows = (assessed ? assessed.rows : []).filter((r) => levelOfDepartment(r.department))
    .sort((a, b) => (b.score ?? -1) - (a.score ?? -1) || a.department.localeCompare(b.department));
  if (assessed) unavailable.push(...assessed.unavailableNodes.filter((n) => !unavailable.includes(n)));
  const partCell = (name) => (row) => {
    const part = row.parts.find((p) => p.name === name);
    if (!part || part.ratio === null) return h("span", { class: "hint", title: part ? part.detail : "" }, "–");
    return h("span", { title: part.detail }, `${formatNumber(part.points, 1)} / ${part.weight}`,
             h("small", { class: "part-detail" }, part.detail));
  };
  const topScores = scoreRows.filter((r) => r.score !== null).slice(0, 20);

  const topProviders = byProvider.slice(0, 15);
  const requestColumns = [
    [t("received"), (r) => formatNumber(r.received), { numeric: true, key: "received" }],
    [t("approved"), (r) => formatNumber(r.approved), { numeric: true, key: "approved" }],
    [t("partlyApproved"), (r) => formatNumber(r.partlyApproved), { numeric: true, key: "partlyApproved" }],
    [t("rejected"), (r) => formatNumber(r.rejected), { numeric: true, key: "rejected" }],
    [t("withdrawn"), (r) => formatNumber(r.withdrawn), { numeric: true, key: "withdrawn" }],
    [t("pending"), (r) => formatNumber(r.pending), { numeric: true, key: "pending" }],
    [t("overdue"), (r) => formatNumber(r.overdue), { numeric: true, key: "overdue" }],
    [t("repliedLate"), (r) => formatNumber(r.repliedLate), { numeric: true, key: "repliedLate" }],
    [t("medianReply"), (r) => formatNumber(r.medianReplyWorkingDays, 1), { numeric: true, key: "median" }],
    [t("p90Reply"), (r) => formatNumber(r.p90ReplyWorkingDays, 1), { numeric: true, key: "p90" }],
  ];
  const grantColumns = [
    [t("id"), (g) => String(g.id), { key: "id" }],
    [t("department"), (g) => deptLabel(g.grantee), { key: "grantee" }],
    [t("resource"), (g) => h("span", { class: "code" }, g.resource)],
    [t("items"), (g) => g.items.join(", ")],
    [t("purpose"), (g) => g.purpose],
    [t("validUntil"), (g) => chinaDay(Date.parse(g.validUntil) - 1), { key: "validUntil" }],
    [t("uses"), (g) => formatNumber(g.uses), { numeric: true, key: "uses" }],
    [t("lastUsed"), (g) => (g.lastUsedAt ? g.lastUsedAt.replace("T", " ").slice(0, 16) : "–")],
  ];
  const empty = () => h("p", { class: "empty" }, t("nothing"));
  body.replaceChildren(...[
    errors.length ? h("p", { class: "error", role: "alert" }, errors.map((e) => e.message).join("; ")) : null,
    unavailable.length ? h("p", { class: "warning", id: "unavailable" }, `${t("unavailable")}: ${unavailable.join(", ")}`) : null,
    h("div", { class: "kpis" },
      kpi("kpi-resources", t("resources"), formatNumber(total.resources)),
      kpi("kpi-items", t("dataItems"), formatNumber(total.dataItems)),
      kpi("kpi-share-ratio", t("shareRatio"), percent(shareRatio(total))),
      kpi("kpi-no-basis", t("noLegalBasis"), formatNumber(total.notSharedWithoutLegalBasis)),
      kpi("kpi-overdue", t("overdueUpdates"), formatNumber(total.overdueUpdates)),
      kpi("kpi-requests", t("queries"), formatNumber(totalRequests)),
      kpi("kpi-share-requests", t("shareRequests"), formatNumber(requestTotals.received)),
      kpi("kpi-overdue-requests", t("overdueRequests"), formatNumber(requestTotals.overdue)),
      kpi("kpi-denials", t("deniedFields"), formatNumber(denialRows.reduce((n, r) => n + r.denials, 0)))),
    h("section", { id: "catalog-by-node" }, h("h2", {}, t("catalogByNode")),
      chart("chart-by-node", stackedBars(byNode.map((r) => `${r.key} ${nodeName(r.key)}`),
        [[t("unconditional"), byNode.map((r) => r.unconditionalItems)],
         [t("conditional"), byNode.map((r) => r.conditionalItems)],
         [t("notShared"), byNode.map((r) => r.notSharedItems)]], rtl), 60 + 28 * byNode.length),
      table([[t("node"), (r) => `${r.key} ${nodeName(r.key)}`, { key: "node" }], ...countColumns()], byNode,
            { id: "table-by-node" })),
    h("section", { id: "catalog-by-department" }, h("h2", {}, t("catalogByDepartment")),
      chart("chart-by-department", stackedBars(topProviders.map((r) => deptLabel(r.key).textContent),
        [[t("unconditional"), topProviders.map((r) => r.unconditionalItems)],
         [t("conditional"), topProviders.map((r) => r.conditionalItems)],
         [t("notShared"), topProviders.map((r) => r.notSharedItems)]], rtl), 60 + 28 * topProviders.length),
      table([[t("provider"), (r) => deptLabel(r.key), { key: "provider" }], ...countColumns()], byProvider,
            { id: "table-by-department" })),
    h("section", { id: "share-requests" }, h("h2", {}, t("requestsByNode")),
      requestsByNode.length ? table([[t("node"), (r) => `${r.node} ${nodeName(r.node)}`, { key: "node" }],
                                     ...requestColumns], requestsByNode, { id: "table-requests-by-node" }) : empty(),
      h("h2", {}, t("requestsByProvider")),
      requestsByProvider.length ? table([[t("provider"), (r) => deptLabel(r.provider), { key: "provider" }],
                                         ...requestColumns], requestsByProvider,
                                        { id: "table-requests-by-provider" }) : empty()),
    h("section", { id: "usage" }, h("h2", {}, t("usageBetween")),
      usage.length ? chart("chart-usage", stackedBars(usage.slice(0, 15).map((p) => `${p.consumer} → ${p.provider}`),
        [[t("queries"), usage.slice(0, 15).map((p) => p.requests)]], rtl), 60 + 28 * Math.min(usage.length, 15)) : null,
      usage.length ? table([
        [t("consumer"), (p) => deptLabel(p.consumer), { key: "consumer" }],
        [t("provider"), (p) => deptLabel(p.provider), { key: "provider" }],
        [t("queries"), (p) => formatNumber(p.requests), { numeric: true, key: "requests" }],
        [t("rowsReturned"), (p) => formatNumber(p.rows), { numeric: true, key: "rows" }],
        [t("deniedFields"), (p) => formatNumber(p.deniedFields), { numeric: true, key: "deniedFields" }],
        [t("refused"), (p) => formatNumber(p.refused), { numeric: true, key: "refused" }],
      ], usage, { id: "table-usage" }) : empty()),
    h("section", { id: "denials" }, h("h2", {}, t("denialsByReason")),
      reasons.length ? chart("chart-denials", {
        animation: false, tooltip: { trigger: "item" }, legend: { type: "scroll", top: 0 },
        series: [{ type: "pie", radius: ["35%", "65%"], top: 30, data: reasons.map(([name, value]) => ({ name, value })) }],
      }, 300) : null,
      reasons.length ? table([
        [t("reason"), ([reason]) => h("span", { class: "code" }, reason), { key: "reason" }],
        [t("deniedFields"), ([, n]) => formatNumber(n), { numeric: true, key: "denials" }],
      ], reasons, { id: "table-denials" }) : empty()),
    h("section", { id: "grant-use" }, h("h2", {}, t("grantsExpiring")),
      expiring.length ? table(grantColumns, expiring, { id: "table-grants-expiring" }) : empty(),
      h("h2", {}, t("grantsNeverUsed")),
      neverUsed.length ? table(grantColumns, neverUsed, { id: "table-grants-never-used" }) : empty()),
    assessed ? h("section", { id: "assessment" }, h("h2", {}, t("assessment")),
      topScores.length ? chart("chart-assessment", stackedBars(topScores.map((r) => deptLabel(r.department).textContent),
        PARTS.map((name) => [t(`part_${name}`), topScores.map((r) => {
          const part = r.parts.find((p) => p.name === name);
          // Each part's share of the score: points scaled as the score is (100 / weights that apply).
          const weights = r.parts.filter((p) => p.ratio !== null).reduce((n, p) => n + p.weight, 0);
          return part && part.points !== null && weights ? Number((100 * part.points / weights).toFixed(1)) : 0;
        })]), rtl), 60 + 24 * topScores.length) : null,
      scoreRows.length ? table([
        [t("department"), (r) => deptLabel(r.department), { key: "department" }],
        [t("score"), (r) => formatNumber(r.score, 1), { numeric: true, key: "score" }],
        ...PARTS.map((name) => [t(`part_${name}`), partCell(name), { key: `part-${name}` }]),
      ], scoreRows, { id: "table-assessment" }) : empty()) : null,
    h("section", { id: "conflicts" }, h("h2", {}, t("sourceConflicts")),
      conflicts.length ? table([
        [t("kind"), (c) => c.kind, { key: "kind" }],
        [t("resource"), (c) => h("span", { class: "code" }, c.resource), { key: "resource" }],
        [t("database"), (c) => `${c.database} ${c.table || ""}.${c.column || ""}`],
        [t("applied"), (c) => c.applied || "–"],
        [t("detail"), (c) => c.detail],
      ], conflicts, { id: "table-conflicts" }) : empty()),
  ].filter(Boolean));
  body.setAttribute("aria-busy", "false");
}
