"""The console's policy admin pages in headless Chromium: add a rule with its impact preview, see explain
name it, remove it again; the server's validation errors at their fields; read-only for a supervisor."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

from playwright.async_api import Browser, Page

from .console_browsers import demo_token, graphql, sign_in

RESOURCE = "650000-B02-000001"  # legal entities; registered_capital is UNCONDITIONAL
RULE = {"subject": "654300-JY", "resource": RESOURCE, "item": "registered_capital", "action": "READ",
        "effect": "DENY"}
PREVIEW = """query($rule: RuleInput!) { previewPolicyChange(add: [$rule]) { totalChanges } }"""
RULES = """query($filter: RuleFilterInput) { accessRules(filter: $filter) { id } }"""
GRANTS = """{ grants(state: ACTIVE) { id validUntil } }"""
CHINA = timezone(timedelta(hours=8))
REMOVE = """mutation($id: Int!) { removeRule(id: $id, reason: "test cleanup") { rule { id } } }"""



async def fill_rule(page: Page, rule: dict[str, str], reason: str) -> None:
    form = page.locator("#rule-add")
    for name in ("subject", "resource", "item"):
        await form.locator(f"[data-field={name}]").fill(rule[name])
    await form.locator("[data-field=action]").select_option(rule["action"])
    await form.locator("[data-field=effect]").select_option(rule["effect"])
    await form.locator("[data-field=reason]").fill(reason)


async def rule_ids(root: str, bearer: str) -> list[int]:
    filter_ = {"subject": RULE["subject"], "resource": RESOURCE, "item": RULE["item"]}
    return [r["id"] for r in (await graphql(root, bearer, RULES, {"filter": filter_}))["accessRules"]]


async def test_add_a_rule_after_its_preview_then_explain_names_it(browser: Browser, live_root: str) -> None:
    bearer = demo_token("admin.region")
    assert await rule_ids(live_root, bearer) == []
    expected = (await graphql(live_root, bearer, PREVIEW, {"rule": RULE}))["previewPolicyChange"]["totalChanges"]
    assert expected > 0
    tab = await sign_in(browser, live_root, "admin.region", bearer)
    page = tab.page
    try:
        await page.click("#nav-rules")
        await page.locator("#rules-list[aria-busy=false]").wait_for(timeout=10_000)
        await fill_rule(page, RULE, "阿勒泰地区教育部门履职不需要注册资本")
        assert await page.locator("#rule-save").is_disabled()  # no saving before the preview
        await page.click("#rule-preview")
        result = page.locator("#rule-preview-result")
        await result.wait_for(timeout=10_000)
        assert int((await result.locator(".total-changes").inner_text()).replace(",", "")) == expected
        assert "654300-JY" in await result.locator("table").inner_text()
        await tab.screenshot("console-rule-preview")
        await page.click("#rule-save")
        await page.locator("#rules-message").wait_for(timeout=10_000)
        [rule_id] = await rule_ids(live_root, bearer)
        assert f"#{rule_id}" in await page.inner_text("#rules-message")
        await page.locator(f"#rules-table button[data-rule='{rule_id}']").wait_for()

        # Explain: why may Altay's education bureau not read the registered capital? This rule.
        await page.click("#nav-explain")
        form = page.locator("#explain-form")
        await form.locator("[data-field=department]").fill("654300-JY")
        await form.locator("[data-field=resource]").fill(RESOURCE)
        await form.locator("[data-field=item]").fill("registered_capital")
        await page.click("#explain-ask")
        await page.locator("#explanation").wait_for(timeout=10_000)
        assert "POLICY_DENIED" in await page.inner_text("#explanation h2")
        matched = await page.locator("#matched-rules td[data-col=id]").all_inner_texts()
        assert str(rule_id) in matched
        await tab.screenshot("console-explain")

        # Remove it again: its impact first, then the reason, then it is gone.
        await page.click("#nav-rules")
        await page.locator("#rules-list[aria-busy=false]").wait_for(timeout=10_000)
        await page.click(f"#rules-table button[data-rule='{rule_id}']")
        removal = page.locator(f"#remove-form-{rule_id}")
        await page.locator(f"#remove-preview-{rule_id}").wait_for(timeout=10_000)
        await removal.locator("button[type=submit]").click()  # no reason yet: refused at the field
        await removal.locator("[data-error-for=reason]").get_by_text("reason").wait_for(timeout=10_000)
        await removal.locator("[data-field=reason]").fill("测试结束")
        await removal.locator("button[type=submit]").click()
        await page.locator(f"#rules-table button[data-rule='{rule_id}']").wait_for(state="detached",
                                                                                   timeout=10_000)
        assert await rule_ids(live_root, bearer) == []
    finally:
        await tab.context.close()
        for leftover in await rule_ids(live_root, bearer):
            await graphql(live_root, bearer, REMOVE, {"id": leftover})
    assert tab.blocked == []
    assert tab.console_errors == []
    assert tab.graphql_only()


async def test_validation_errors_are_shown_at_their_fields(browser: Browser, live_root: str) -> None:
    tab = await sign_in(browser, live_root, "admin.region")
    page = tab.page
    try:
        await page.click("#nav-rules")
        await page.locator("#rules-list[aria-busy=false]").wait_for(timeout=10_000)
        await fill_rule(page, {**RULE, "subject": "kind:XX"}, "")
        await page.click("#rule-preview")
        error = page.locator("#rule-add [data-error-for=subject]")
        await error.get_by_text("no department is of kind 'XX'").wait_for(timeout=10_000)
        assert await page.locator("#rule-add [data-field=subject]").get_attribute("aria-invalid") == "true"
        assert await page.locator("#rule-add [data-error-for=resource]").inner_text() == ""
        assert await page.locator("#rule-save").is_disabled()
        await tab.screenshot("console-validation-error")
        # A valid rule previewed, saved without a reason: the reason field says so, nothing is stored.
        await page.locator("#rule-add [data-field=subject]").fill(RULE["subject"])
        await page.click("#rule-preview")
        await page.locator("#rule-preview-result").wait_for(timeout=10_000)
        assert await page.locator("#rule-add [data-error-for=subject]").inner_text() == ""
        await page.click("#rule-save")
        await page.locator("#rule-add [data-error-for=reason]").get_by_text("reason").wait_for(timeout=10_000)
        assert await rule_ids(live_root, demo_token("admin.region")) == []
    finally:
        await tab.context.close()
    assert tab.console_errors == []


async def test_a_supervisor_reads_rules_but_is_offered_no_changes(browser: Browser, live_root: str) -> None:
    tab = await sign_in(browser, live_root, "supervisor.region")
    page = tab.page
    try:
        nav = await page.locator("#nav a").evaluate_all("links => links.map(a => a.id)")
        assert nav == ["nav-dashboard", "nav-rules", "nav-explain", "nav-history", "nav-grants", "nav-graphiql"]
        await page.click("#nav-rules")
        await page.locator("#rules-list[aria-busy=false]").wait_for(timeout=10_000)
        assert await page.locator("#rules-table tbody tr").count() > 0
        assert await page.locator("#rule-add, #rules-table button.remove").count() == 0
        await page.click("#nav-history")
        await page.locator("#history-list table").wait_for(timeout=10_000)
        await page.click("#nav-grants")
        await page.locator("#grants-table").wait_for(timeout=10_000)
        await tab.screenshot("console-grants")
        # Remaining validity as the grants answer gives it: the last day (validUntil is exclusive, 00:00
        # China Standard Time after it) and the whole days left.
        now = datetime.now(UTC)
        grants = (await graphql(live_root, demo_token("supervisor.region"), GRANTS))["grants"]
        assert grants
        expected = {str(g["id"]): ((datetime.fromisoformat(g["validUntil"]) - timedelta(microseconds=1))
                                   .astimezone(CHINA).date().isoformat(),
                                   str(math.ceil((datetime.fromisoformat(g["validUntil"]) - now)
                                                 / timedelta(days=1)))) for g in grants}
        ids = await page.locator("#grants-table td[data-col=id]").all_inner_texts()
        last_days = await page.locator("#grants-table td[data-col=validUntil]").all_inner_texts()
        left = await page.locator("#grants-table td[data-col=remainingDays]").all_inner_texts()
        assert dict(zip(ids, zip(last_days, left, strict=True), strict=True)) == expected
    finally:
        await tab.context.close()
    assert tab.console_errors == []
