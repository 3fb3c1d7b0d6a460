// Labels in Chinese, Uyghur (Arabic script, right to left) and English. The choice is remembered in
// localStorage (a preference, not a secret); the token never is.
const LANG_KEY = "govshare.console.lang";
export const LANGUAGES = ["zh", "ug", "en"];
const RTL = new Set(["ug"]);

const LABELS = {
  zh: {
    title: "政务信息资源共享平台 控制台", signIn: "登录", signOut: "退出", token: "访问令牌",
    tokenHelp: "粘贴管理员签发的令牌。演示环境可在终端运行下面的命令签发（粘贴其输出）：",
    tokenKept: "令牌只保存在本标签页（sessionStorage），只发送到 /graphql。",
    tokenRejected: "令牌无效或已过期，请重新登录。", useToken: "使用令牌",
    dashboard: "监督考核", rules: "访问规则", explain: "权限解释", history: "变更记录", grants: "授权",
    graphiql: "GraphiQL", you: "当前用户", roles: "角色", noPages: "此账号没有可用的管理页面。",
    node: "节点", level: "层级", period: "时间范围", all: "全部", region: "自治区", prefecture: "地州市",
    county: "县级", days7: "近 7 天", days30: "近 30 天", days90: "近 90 天", days365: "近一年",
    resources: "资源数", dataItems: "信息项", unconditional: "无条件共享", conditional: "有条件共享",
    notShared: "不予共享", shareRatio: "共享率", noLegalBasis: "不予共享无法律依据",
    missingUyghur: "缺维吾尔文名称", overdueUpdates: "目录更新逾期", department: "部门", provider: "提供部门",
    consumer: "使用部门", queries: "请求次数", rowsReturned: "返回行数", deniedFields: "被拒字段",
    refused: "拒绝查询", catalogByNode: "各节点共享类别", catalogByDepartment: "各部门共享类别",
    usageBetween: "部门间数据使用", unavailable: "未响应的节点", nothing: "无数据", top: "前",
    subject: "主体", resource: "资源", item: "信息项", shareClass: "共享类别", action: "操作",
    grantState: "授权状态", effect: "效果", domain: "管理域", loaded: "已生效", note: "备注", reason: "理由",
    any: "任意", allow: "允许", deny: "拒绝", read: "读取", verify: "核验", appliesTo: "适用于部门",
    filter: "筛选", addRule: "新增规则", preview: "预览影响", save: "保存", remove: "删除", cancel: "取消",
    confirmRemove: "确认删除", previewTitle: "影响预览（不保存）", totalChanges: "变化的决定",
    departmentsConsidered: "涉及部门", itemsConsidered: "涉及信息项", before: "之前", after: "之后",
    previewFirst: "保存前请先预览影响。", saved: "已保存", removed: "已删除", ruleId: "规则",
    purpose: "用途", allowed: "允许", denied: "拒绝", matchedRules: "匹配的规则", howToRequest: "如何申请",
    condition: "共享条件", legalBasis: "法律依据", grant: "授权", rowScope: "行范围", ask: "查询",
    at: "时间", actor: "操作人", kind: "类别", operation: "操作", older: "更早的记录", id: "编号",
    items: "信息项", validFrom: "生效", validUntil: "有效期至", remainingDays: "剩余天数", state: "状态",
    divisions: "区划范围", revoked: "已撤销", active: "有效", expired: "已过期", notYetValid: "未生效",
    received: "收到申请", approved: "批准", partlyApproved: "部分批准", rejected: "驳回", withdrawn: "撤回",
    pending: "待处理", overdue: "逾期", repliedLate: "超期答复", medianReply: "答复中位数（工作日）",
    p90Reply: "答复90分位（工作日）", shareRequests: "共享申请", overdueRequests: "逾期未答复申请",
    requestsByNode: "各节点共享申请", requestsByProvider: "各提供部门共享申请", denialsByReason: "拒绝字段（按原因）",
    grantsExpiring: "30 天内到期的授权", grantsNeverUsed: "从未使用的授权", sourceConflicts: "一数一源冲突",
    uses: "使用次数", lastUsed: "最近使用", database: "数据库", applied: "适用类别", detail: "说明",
    assessment: "考核评分", score: "得分", part_names: "多语种名称", part_legal_basis: "不予共享法律依据",
    part_sharing: "共享", part_timeliness: "及时更新", part_requests: "按时答复申请", part_use: "合规使用",
    readOnly: "只读：您没有修改规则的权限。", error: "错误", language: "语言",
  },
  ug: {
    title: "ھۆكۈمەت ئۇچۇر مەنبەلىرىنى ھەمبەھىرلەش سۇپىسى — باشقۇرۇش", signIn: "كىرىش", signOut: "چېكىنىش",
    token: "زىيارەت بەلگىسى",
    tokenHelp: "باشقۇرغۇچى بەرگەن بەلگىنى چاپلاڭ. سىناق مۇھىتىدا تۆۋەندىكى بۇيرۇقنى ئىجرا قىلىپ چىققان نەتىجىنى چاپلاڭ:",
    tokenKept: "بەلگە پەقەت مۇشۇ بەتكۈچتە (sessionStorage) ساقلىنىدۇ، پەقەت /graphql غا ئەۋەتىلىدۇ.",
    tokenRejected: "بەلگە ئىناۋەتسىز ياكى ۋاقتى ئۆتكەن، قايتا كىرىڭ.", useToken: "بەلگىنى ئىشلىتىش",
    dashboard: "نازارەت ۋە باھالاش", rules: "زىيارەت قائىدىلىرى", explain: "ھوقۇق چۈشەندۈرۈش",
    history: "ئۆزگىرىش خاتىرىسى", grants: "ھوقۇق بېرىش", graphiql: "GraphiQL", you: "ئىشلەتكۈچى",
    roles: "رول", noPages: "بۇ ھېساباتنىڭ باشقۇرۇش بېتى يوق.",
    node: "تۈگۈن", level: "دەرىجە", period: "ۋاقىت دائىرىسى", all: "ھەممىسى", region: "ئاپتونوم رايون",
    prefecture: "ۋىلايەت، شەھەر", county: "ناھىيە", days7: "ئاخىرقى 7 كۈن", days30: "ئاخىرقى 30 كۈن",
    days90: "ئاخىرقى 90 كۈن", days365: "ئاخىرقى بىر يىل", resources: "مەنبە سانى", dataItems: "ئۇچۇر تۈرى",
    unconditional: "شەرتسىز ھەمبەھىرلىنىدۇ", conditional: "شەرتلىك ھەمبەھىرلىنىدۇ",
    notShared: "ھەمبەھىرلەنمەيدۇ", shareRatio: "ھەمبەھىرلىنىش نىسبىتى",
    noLegalBasis: "قانۇنىي ئاساسى يوق ھەمبەھىرلەنمەيدىغان تۈر", missingUyghur: "ئۇيغۇرچە نامى يوق",
    overdueUpdates: "مۇندەرىجە يېڭىلاش ۋاقتى ئۆتكەن", department: "تارماق", provider: "تەمىنلىگۈچى تارماق",
    consumer: "ئىشلەتكۈچى تارماق", queries: "سوراق سانى", rowsReturned: "قايتۇرۇلغان قۇر",
    deniedFields: "رەت قىلىنغان مەيدان", refused: "رەت قىلىنغان سوراق",
    catalogByNode: "تۈگۈنلەر بويىچە ھەمبەھىرلەش تۈرى", catalogByDepartment: "تارماقلار بويىچە ھەمبەھىرلەش تۈرى",
    usageBetween: "تارماقلار ئارا ئىشلىتىش", unavailable: "جاۋاب بەرمىگەن تۈگۈن", nothing: "سانلىق مەلۇمات يوق",
    top: "ئالدىنقى", subject: "سۇبيېكت", resource: "مەنبە", item: "ئۇچۇر تۈرى", shareClass: "ھەمبەھىرلەش تۈرى",
    action: "مەشغۇلات", grantState: "ھوقۇق ھالىتى", effect: "ئۈنۈمى", domain: "باشقۇرۇش دائىرىسى",
    loaded: "كۈچكە ئىگە", note: "ئىزاھات", reason: "سەۋەب", any: "خالىغان", allow: "رۇخسەت",
    deny: "چەكلەش", read: "ئوقۇش", verify: "سېلىشتۇرۇپ تەكشۈرۈش", appliesTo: "قوللىنىلىدىغان تارماق",
    filter: "سۈزۈش", addRule: "قائىدە قوشۇش", preview: "تەسىرىنى ئالدىن كۆرۈش", save: "ساقلاش",
    remove: "ئۆچۈرۈش", cancel: "بىكار قىلىش", confirmRemove: "ئۆچۈرۈشنى جەزملەش",
    previewTitle: "تەسىرىنى ئالدىن كۆرۈش (ساقلانمايدۇ)", totalChanges: "ئۆزگىرىدىغان قارار",
    departmentsConsidered: "تارماق", itemsConsidered: "ئۇچۇر تۈرى", before: "ئىلگىرى", after: "كېيىن",
    previewFirst: "ساقلاشتىن بۇرۇن تەسىرىنى ئالدىن كۆرۈڭ.", saved: "ساقلاندى", removed: "ئۆچۈرۈلدى",
    ruleId: "قائىدە", purpose: "مەقسەت", allowed: "رۇخسەت قىلىنىدۇ", denied: "رەت قىلىنىدۇ",
    matchedRules: "ماس كەلگەن قائىدىلەر", howToRequest: "قانداق ئىلتىماس قىلىش", condition: "شەرتى",
    legalBasis: "قانۇنىي ئاساسى", grant: "ھوقۇق", rowScope: "قۇر دائىرىسى", ask: "سوراش", at: "ۋاقىت",
    actor: "مەشغۇلاتچى", kind: "تۈرى", operation: "مەشغۇلات", older: "تېخىمۇ بۇرۇنقى خاتىرىلەر", id: "نومۇر",
    items: "ئۇچۇر تۈرلىرى", validFrom: "باشلىنىش", validUntil: "ئاخىرلىشىش", remainingDays: "قالغان كۈن",
    state: "ھالىتى", divisions: "رايون دائىرىسى", revoked: "بىكار قىلىنغان", active: "ئىناۋەتلىك",
    expired: "ۋاقتى ئۆتكەن", notYetValid: "تېخى كۈچكە ئىگە ئەمەس",
    received: "تاپشۇرۇۋېلىنغان ئىلتىماس", approved: "تەستىقلانغان", partlyApproved: "قىسمەن تەستىقلانغان",
    rejected: "رەت قىلىنغان", withdrawn: "قايتۇرۇۋېلىنغان", pending: "بىر تەرەپ قىلىنمىغان",
    overdue: "ۋاقتى ئۆتكەن", repliedLate: "كېچىكىپ جاۋاب بېرىلگەن", medianReply: "جاۋاب ئوتتۇرا قىممىتى (خىزمەت كۈنى)",
    p90Reply: "جاۋاب 90-پىرسەنت (خىزمەت كۈنى)", shareRequests: "ھەمبەھىرلەش ئىلتىماسى",
    overdueRequests: "ۋاقتىدا جاۋاب بېرىلمىگەن ئىلتىماس", requestsByNode: "تۈگۈنلەر بويىچە ئىلتىماس",
    requestsByProvider: "تەمىنلىگۈچى تارماقلار بويىچە ئىلتىماس", denialsByReason: "رەت قىلىنغان مەيدان (سەۋەب بويىچە)",
    grantsExpiring: "30 كۈن ئىچىدە ۋاقتى توشىدىغان ھوقۇق", grantsNeverUsed: "ئىشلىتىلمىگەن ھوقۇق",
    sourceConflicts: "بىر سانلىق مەلۇمات بىر مەنبە توقۇنۇشى", uses: "ئىشلىتىش سانى", lastUsed: "ئاخىرقى ئىشلىتىش",
    database: "ساندان", applied: "قوللىنىلغان تۈر", detail: "چۈشەندۈرۈش",
    assessment: "باھالاش نومۇرى", score: "نومۇر", part_names: "كۆپ تىللىق نامى", part_legal_basis: "قانۇنىي ئاساس",
    part_sharing: "ھەمبەھىرلەش", part_timeliness: "ۋاقتىدا يېڭىلاش", part_requests: "ئىلتىماسقا ۋاقتىدا جاۋاب",
    part_use: "قائىدىگە ئۇيغۇن ئىشلىتىش",
    readOnly: "پەقەت ئوقۇشقا بولىدۇ: قائىدە ئۆزگەرتىش ھوقۇقىڭىز يوق.", error: "خاتالىق", language: "تىل",
  },
  en: {
    title: "Government data-sharing platform: console", signIn: "Sign in", signOut: "Sign out", token: "Token",
    tokenHelp: "Paste a token your administrator issued. For the demo, mint one in a terminal and paste what it prints:",
    tokenKept: "The token is kept in this tab only (sessionStorage) and sent to /graphql only.",
    tokenRejected: "The token is invalid or expired: sign in again.", useToken: "Use token",
    dashboard: "Supervision", rules: "Access rules", explain: "Explain", history: "Change history",
    grants: "Grants", graphiql: "GraphiQL", you: "Signed in as", roles: "Roles",
    noPages: "This account has no administration pages.",
    node: "Node", level: "Level", period: "Period", all: "All", region: "Region", prefecture: "Prefecture",
    county: "County", days7: "Last 7 days", days30: "Last 30 days", days90: "Last 90 days",
    days365: "Last year", resources: "Resources", dataItems: "Data items", unconditional: "Unconditional",
    conditional: "Conditional", notShared: "Not shared", shareRatio: "Share ratio",
    noLegalBasis: "Not shared without legal basis", missingUyghur: "Missing Uyghur name",
    overdueUpdates: "Catalog updates overdue", department: "Department", provider: "Provider",
    consumer: "Consumer", queries: "Requests", rowsReturned: "Rows returned", deniedFields: "Denied fields",
    refused: "Refused queries", catalogByNode: "Share classes per node",
    catalogByDepartment: "Share classes per department", usageBetween: "Use between departments",
    unavailable: "Nodes that did not answer", nothing: "No data", top: "Top",
    subject: "Subject", resource: "Resource", item: "Item", shareClass: "Share class", action: "Action",
    grantState: "Grant state", effect: "Effect", domain: "Domain", loaded: "Enforced", note: "Note",
    reason: "Reason", any: "Any", allow: "Allow", deny: "Deny", read: "Read", verify: "Verify",
    appliesTo: "Applies to department", filter: "Filter", addRule: "Add a rule", preview: "Preview impact",
    save: "Save", remove: "Remove", cancel: "Cancel", confirmRemove: "Confirm removal",
    previewTitle: "Impact preview (nothing stored)", totalChanges: "Changed decisions",
    departmentsConsidered: "Departments considered", itemsConsidered: "Items considered",
    before: "Before", after: "After", previewFirst: "Preview the impact before saving.", saved: "Saved",
    removed: "Removed", ruleId: "Rule", purpose: "Purpose", allowed: "Allowed", denied: "Denied",
    matchedRules: "Matched rules", howToRequest: "How to request", condition: "Condition",
    legalBasis: "Legal basis", grant: "Grant", rowScope: "Row scope", ask: "Ask", at: "At", actor: "Actor",
    kind: "Kind", operation: "Operation", older: "Older changes", id: "Id", items: "Items",
    validFrom: "Valid from", validUntil: "Valid until", remainingDays: "Days left", state: "State",
    divisions: "Divisions", revoked: "Revoked", active: "Active", expired: "Expired",
    received: "Received", approved: "Approved", partlyApproved: "Partly approved", rejected: "Rejected",
    withdrawn: "Withdrawn", pending: "Pending", overdue: "Overdue", repliedLate: "Replied late",
    medianReply: "Median reply (working days)", p90Reply: "90th percentile reply (working days)",
    shareRequests: "Share requests", overdueRequests: "Requests overdue", requestsByNode: "Share requests per node",
    requestsByProvider: "Share requests per provider", denialsByReason: "Denied fields by reason",
    grantsExpiring: "Grants ending within 30 days", grantsNeverUsed: "Grants never used",
    sourceConflicts: "One data, one source: conflicts", uses: "Uses", lastUsed: "Last used", database: "Database",
    applied: "Class applied", detail: "Detail",
    assessment: "Assessment scores", score: "Score", part_names: "Names", part_legal_basis: "Legal basis",
    part_sharing: "Sharing", part_timeliness: "Timeliness", part_requests: "Requests answered", part_use: "Use",
    notYetValid: "Not yet valid", readOnly: "Read only: you may not change rules.", error: "Error",
    language: "Language",
  },
};

let current = chooseInitial();

function chooseInitial() {
  const saved = window.localStorage.getItem(LANG_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  const browser = (navigator.language || "zh").slice(0, 2);
  return LANGUAGES.includes(browser) ? browser : "zh";
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  window.localStorage.setItem(LANG_KEY, lang);
  apply();
}

// Sets lang and dir on the document: the whole layout (flex rows, tables, text) mirrors for Uyghur.
export function apply() {
  document.documentElement.lang = current;
  document.documentElement.dir = RTL.has(current) ? "rtl" : "ltr";
  document.title = t("title");
}

export function t(key) {
  return LABELS[current][key] ?? LABELS.en[key] ?? key;
}

// The GraphQL Language enum for names in answers (departments, nodes).
export function graphqlLanguage() {
  return current.toUpperCase();
}
