// Billing: storage and compute charges per day and project (DescribeBills), as a stacked bar
// chart and a table. Bills are the root key's to see; other keys are told so.
import { call } from "../api.js";
import { barChart } from "../charts.js";
import { keepForm } from "../forms.js";
import { identity } from "../shell.js";
import { complete, day, decimal, errorBox, h, page, render, usd } from "../ui.js";

const ITEMS = { storage: "Storage", sql: "SQL compute", subscription: "Subscription quota" };
const MAX_SERIES = 6;

const today = new Date();
const monthAgo = new Date(today.getTime() - 29 * 86400_000);
const isoDay = (date) => date.toISOString().slice(0, 10);

const form = h(
  "form",
  { class: "card row", id: "bill-range", onsubmit: (e) => { e.preventDefault(); load(); } },
  h("label", { for: "from", class: "nowrap", text: "From" }),
  h("input", { type: "date", id: "from", name: "from", value: isoDay(monthAgo), max: isoDay(today) }),
  h("label", { for: "to", class: "nowrap", text: "To" }),
  h("input", { type: "date", id: "to", name: "to", value: isoDay(today) }),
  h("button", { type: "submit", class: "primary" }, "Show"),
  h("span", { class: "small muted", text: "Days are UTC. Storage is charged per GB-day beyond the free GB; SQL per GB scanned × complexity." }),
);
keepForm(form, "billing");
const output = h("div", { id: "bills" });

async function load() {
  render(output, h("p", { class: "muted", text: "Loading bills…" }));
  const start = form.elements.from.value || isoDay(monthAgo);
  const end = form.elements.to.value || isoDay(today);
  let answer;
  try {
    answer = await call("DescribeBills", { StartDay: start.replaceAll("-", ""), EndDay: end.replaceAll("-", "") });
  } catch (failure) {
    const rootOnly = failure.code === "NoPermission";
    render(
      output,
      errorBox(failure, {
        title: rootOnly ? "Bills are shown to the account's root key only" : undefined,
        hint: rootOnly && !identity.isRoot ? `You are signed in as RAM user ${identity.user}. Sign in with the root key of account ${identity.account} to see its bills.` : null,
      }),
    );
    complete();
    return;
  }
  render(output, summary(answer), chartCard(answer.Bills, start, end), tableCard(answer.Bills));
  complete();
}

function summary(answer) {
  const byItem = {};
  for (const line of answer.Bills) byItem[line.Item] = (byItem[line.Item] || 0) + line.AmountUSD;
  return h(
    "div",
    { class: "card" },
    h(
      "dl",
      { class: "facts", id: "bill-summary" },
      h("div", {}, h("dt", { text: "Total for the period" }), h("dd", { id: "bill-total", text: usd(answer.TotalUSD) })),
      Object.entries(ITEMS).map(([item, label]) => h("div", {}, h("dt", { text: label }), h("dd", { text: usd(byItem[item] || 0) }))),
    ),
  );
}

function daysBetween(start, end) {
  const days = [];
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= Date.parse(`${end}T00:00:00Z`); t += 86400_000) {
    days.push(day(new Date(t)));
    if (days.length > 366) break;
  }
  return days;
}

function chartCard(lines, start, end) {
  const days = daysBetween(start, end);
  const totals = {};
  for (const line of lines) totals[line.Project] = (totals[line.Project] || 0) + line.AmountUSD;
  const projects = Object.keys(totals).sort((a, b) => totals[b] - totals[a]);
  const named = projects.slice(0, MAX_SERIES);
  const series = named.map((name) => ({ name, values: days.map(() => 0) }));
  if (projects.length > MAX_SERIES) series.push({ name: "other projects", values: days.map(() => 0) });
  for (const line of lines) {
    const index = days.indexOf(line.Day);
    if (index < 0) continue;
    const k = named.indexOf(line.Project);
    series[k >= 0 ? k : series.length - 1].values[index] += line.AmountUSD;
  }
  return h(
    "section",
    { class: "card" },
    h("h2", { text: "Charges per day, by project (USD)" }),
    lines.length
      ? barChart({
          labels: days.map((d) => `${d.slice(4, 6)}-${d.slice(6)}`),
          series: series.length ? series : [{ name: "charges", values: days.map(() => 0) }],
          stacked: true,
          legend: true,
          yFormat: (v) => usd(v),
          title: "charges per day",
        })
      : h("p", { class: "muted", text: "No charges in this period." }),
  );
}

function tableCard(lines) {
  const rows = new Map();
  for (const line of lines) {
    const key = `${line.Day}|${line.Region}|${line.Project}`;
    const row = rows.get(key) || { day: line.Day, region: line.Region, project: line.Project, storage: null, sql: null, subscription: null, total: 0 };
    row[line.Item] = { usage: (row[line.Item]?.usage || 0) + line.Usage, unit: line.Unit, amount: (row[line.Item]?.amount || 0) + line.AmountUSD };
    row.total += line.AmountUSD;
    rows.set(key, row);
  }
  const ordered = [...rows.values()].sort((a, b) => (a.day === b.day ? a.project.localeCompare(b.project) : b.day.localeCompare(a.day)));
  const cell = (part) => (part ? h("td", { class: "num", title: `${decimal(part.usage, 4)} ${part.unit}`, text: usd(part.amount) }) : h("td", { class: "num muted", text: "—" }));
  const total = ordered.reduce((sum, row) => sum + row.total, 0);
  return h(
    "section",
    { class: "card" },
    h("h2", { text: "Per day and project" }),
    ordered.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { id: "bill-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { text: "Day" }),
                h("th", { text: "Project" }),
                h("th", { class: "hide-phone", text: "Region" }),
                h("th", { class: "num", text: "Storage" }),
                h("th", { class: "num", text: "SQL" }),
                h("th", { class: "num hide-phone", text: "Subscription" }),
                h("th", { class: "num", text: "Total" }),
              ),
            ),
            h(
              "tbody",
              {},
              ordered.map((row) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "nowrap", text: `${row.day.slice(0, 4)}-${row.day.slice(4, 6)}-${row.day.slice(6)}` }),
                  h("td", { class: "mono", text: row.project }),
                  h("td", { class: "hide-phone", text: row.region }),
                  cell(row.storage),
                  cell(row.sql),
                  h("td", { class: "num hide-phone", text: row.subscription ? usd(row.subscription.amount) : "—" }),
                  h("td", { class: "num", text: usd(row.total) }),
                ),
              ),
            ),
            h("tfoot", {}, h("tr", {}, h("td", { colspan: 6, text: "Total" }), h("td", { class: "num", id: "bill-table-total", text: usd(total) }))),
          ),
        )
      : h("p", { class: "muted", text: "No charges in this period." }),
    h("p", { class: "small muted", text: "Hover a charge to see its usage (GB-days, GB × complexity, CU-days). Jobs are billed to the project's owner; failed and cancelled jobs, and COST SQL, cost nothing." }),
  );
}

render(
  page(),
  h("div", { class: "page-head" }, h("h1", { text: "Billing" }), h("span", { class: "subtitle", text: `account ${identity.account}` })),
  form,
  output,
);
load();
