// Detections: the account's Sigma rules (the starter pack and its own, ListDetectionRules), each
// enabled or disabled with one click (Enable/DisableDetectionRule), and the newest findings
// (ListFindings) with the events behind each. Rules are added from the command line
// (`trailhouse rules add`) or CreateDetectionRule; docs/detections.md.
import { call } from "../api.js";
import { identity } from "../shell.js";
import { complete, errorBox, h, page, render, table, toast, when } from "../ui.js";

const SEVERITY = { critical: "bad", high: "bad", medium: "warn", low: "info", informational: "info" };
const rulesBox = h("div", { id: "rules" });
const findingsBox = h("div", { id: "findings" });

async function load() {
  render(rulesBox, h("p", { class: "muted", text: "Loading rules…" }));
  render(findingsBox);
  let rules, findings;
  try {
    [rules, findings] = await Promise.all([
      call("ListDetectionRules", {}, { region: false }),
      call("ListFindings", { MaxResults: "50" }, { region: false }),
    ]);
  } catch (failure) {
    render(rulesBox, errorBox(failure));
    complete();
    return;
  }
  render(
    rulesBox,
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Rules" }),
      table(
        [
          { label: "Rule", cell: (r) => h("div", {}, h("strong", { text: r.Title }), h("div", { class: "small muted mono", text: r.RuleId })) },
          { label: "Severity", cell: (r) => h("span", { class: ["badge", SEVERITY[r.Severity] || "plain"], text: r.Severity || "—" }) },
          { label: "Kind", cell: (r) => r.Kind },
          { label: "Source", cell: (r) => (r.Starter ? "starter pack" : "own") },
          {
            label: "Status",
            cell: (r) => h("span", { class: ["badge", r.Enabled ? "ok" : "plain"], "data-enabled": String(r.Enabled), text: r.Enabled ? "Enabled" : "Disabled" }),
          },
          { label: "", cell: (r) => toggle(r) },
        ],
        rules.Rules,
        { empty: "No rules." },
      ),
      h("p", { class: "small muted", text: "An enabled rule runs on every event as it arrives. Add your own Sigma rules with `trailhouse rules add rule.yml`; test one over a delivered table with `trailhouse rules test`." }),
    ),
  );
  render(
    findingsBox,
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Findings" }),
      table(
        [
          { label: "Time", cell: (f) => when(f.CreateTime) },
          { label: "Severity", cell: (f) => h("span", { class: ["badge", SEVERITY[f.Severity] || "plain"], text: f.Severity }) },
          { label: "Rule", cell: (f) => h("div", {}, f.Title, h("div", { class: "small muted mono", text: f.RuleId })) },
          {
            label: "Events",
            class: "mono",
            cell: (f) => h("div", { class: "small" }, f.EventIds.slice(0, 3).map((id) => h("div", { text: id })), f.EventIds.length > 3 ? `and ${f.EventIds.length - 3} more` : null),
          },
          { label: "Group", class: "mono", cell: (f) => f.Group.join(" · ") },
        ],
        findings.Findings,
        { empty: "No findings yet. Enable a rule to have events checked as they arrive." },
      ),
    ),
  );
  complete();
}

function toggle(rule) {
  if (rule.Kind === "refused") return null;
  const action = rule.Enabled ? "DisableDetectionRule" : "EnableDetectionRule";
  return h(
    "button",
    { type: "button", class: "small", "data-rule": rule.RuleId, "data-action": rule.Enabled ? "disable" : "enable", onclick: () => change(rule, action) },
    rule.Enabled ? "Disable" : "Enable",
  );
}

async function change(rule, action) {
  try {
    await call(action, { RuleId: rule.RuleId }, { region: false });
  } catch (failure) {
    if (failure.code !== "SessionExpired") toast(`${failure.code}: ${failure.message}`, { bad: true });
    return;
  }
  toast(`${rule.RuleId} is now ${rule.Enabled ? "disabled" : "enabled"}`);
  await load();
}

render(
  page(),
  h("div", { class: "page-head" }, h("h1", { text: "Detections" }), h("span", { class: "subtitle", text: `account ${identity.account}` })),
  rulesBox,
  findingsBox,
);
load();
