// Event history: LookupEvents over the last 90 days with any of its attributes (ANDed), a time
// range, paging with NextToken; each event opens to its full JSON; results export as JSON lines.
// The console's own reads are left out unless asked for (LookupEvents' HideConsoleReads).
import { call } from "../api.js";
import { keepState, registerKeeper } from "../forms.js";
import "../shell.js";
import { apiTime, breakable, complete, copyButton, download, errorBox, h, page, plural, render, toast, when } from "../ui.js";

const KEYS = {
  EventName: "Event name",
  ServiceName: "Service name",
  User: "User name",
  EventRW: "Read/write type",
  ResourceType: "Resource type",
  ResourceName: "Resource name",
  EventId: "Event ID",
  EventAccessKeyId: "AccessKey ID",
};
const RANGES = {
  "1h": ["Last hour", 3600],
  "24h": ["Last 24 hours", 86400],
  "7d": ["Last 7 days", 7 * 86400],
  "30d": ["Last 30 days", 30 * 86400],
  "90d": ["Last 90 days", 90 * 86400 - 60],
  custom: ["Custom range (UTC)", 0],
};
const EXPORT_LIMIT = 5000;

const kept = keepState("events", {
  conditions: [{ key: "EventName", value: "" }],
  range: "7d",
  from: "",
  to: "",
  direction: "BACKWARD",
  pageSize: "50",
  showConsoleReads: false,
});
const state = kept.state;
registerKeeper("events", kept.save);

const results = { events: [], nextToken: null, query: null, error: null, loading: false, hidden: 0 };
// A page that leaves console reads out may come back empty (the server reads at most 20 index
// pages of MaxResults events per call); the console asks again this many times before showing
// "Load more".
const REFILLS = 5;

function change(mutate, redraw = false) {
  mutate();
  kept.save();
  if (redraw) draw();
}

// ---- the query -------------------------------------------------------------------------------

function query() {
  const params = { Direction: state.direction, MaxResults: state.pageSize };
  const now = new Date();
  if (state.range === "custom") {
    if (state.from) params.StartTime = apiTime(new Date(`${state.from}:00Z`));
    if (state.to) params.EndTime = apiTime(new Date(`${state.to}:00Z`));
  } else {
    params.StartTime = apiTime(new Date(now.getTime() - RANGES[state.range][1] * 1000));
    params.EndTime = apiTime(now);
  }
  if (!state.showConsoleReads) params.HideConsoleReads = "true";
  state.conditions
    .filter((c) => c.value.trim())
    .forEach((c, i) => {
      params[`LookupAttribute.${i + 1}.Key`] = c.key;
      params[`LookupAttribute.${i + 1}.Value`] = c.value.trim();
    });
  return params;
}

async function search() {
  results.query = query();
  results.events = [];
  results.nextToken = null;
  results.hidden = 0;
  await more();
}

async function more() {
  results.loading = true;
  results.error = null;
  drawResults();
  try {
    for (let attempt = 0; attempt <= REFILLS; attempt += 1) {
      const params = { ...results.query };
      if (results.nextToken) params.NextToken = results.nextToken;
      const answer = await call("LookupEvents", params, { region: false });
      results.events.push(...answer.Events);
      results.hidden += answer.HiddenConsoleReads || 0;
      results.nextToken = answer.NextToken || null;
      if (answer.Events.length || !results.nextToken) break;
    }
  } catch (failure) {
    results.error = failure;
  }
  results.loading = false;
  drawResults();
}

async function exportLines(button) {
  button.disabled = true;
  try {
    while (results.nextToken && results.events.length < EXPORT_LIMIT) {
      button.textContent = `Fetching… ${results.events.length}`;
      const answer = await call("LookupEvents", { ...results.query, MaxResults: "50", NextToken: results.nextToken }, { region: false });
      results.events.push(...answer.Events);
      results.hidden += answer.HiddenConsoleReads || 0;
      results.nextToken = answer.NextToken || null;
    }
  } catch (failure) {
    toast(`${failure.code}: ${failure.message}`, { bad: true });
  }
  const lines = results.events.slice(0, EXPORT_LIMIT).map((e) => JSON.stringify(e)).join("\n");
  download(`events-${new Date().toISOString().slice(0, 19).replaceAll(":", "")}.jsonl`, `${lines}\n`, "application/x-ndjson");
  if (results.nextToken) toast(`Exported the first ${EXPORT_LIMIT} events; narrow the search for the rest.`);
  drawResults();
}

// ---- drawing ---------------------------------------------------------------------------------

const resultsBox = h("div", { id: "results" });

function draw() {
  render(
    page(),
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: "Event history" }),
      h("span", { class: "subtitle", text: "the last 90 days of your account's events" }),
    ),
    h("form", { class: "card", id: "event-search", onsubmit: (e) => { e.preventDefault(); search(); } }, filters()),
    resultsBox,
  );
  drawResults();
}

function filters() {
  const conditions = state.conditions.map((condition, index) =>
    h(
      "div",
      { class: "condition" },
      h(
        "select",
        { "aria-label": "Attribute", name: `key-${index}`, value: condition.key, onchange: (e) => change(() => { condition.key = e.target.value; }) },
        Object.entries(KEYS).map(([key, label]) => h("option", { value: key, text: label })),
      ),
      h("input", {
        "aria-label": "Value",
        name: `value-${index}`,
        value: condition.value,
        placeholder: condition.key === "EventRW" ? "Read or Write" : "exact value",
        spellcheck: "false",
        oninput: (e) => change(() => { condition.value = e.target.value; }),
      }),
      state.conditions.length > 1
        ? h("button", { type: "button", class: "ghost", "aria-label": "Remove condition", onclick: () => change(() => state.conditions.splice(index, 1), true) }, "✕")
        : null,
    ),
  );
  return h(
    "div",
    {},
    h(
      "div",
      { class: "filters" },
      h(
        "div",
        { class: "field conditions" },
        h("span", { class: "label", text: "Attributes (all must match)" }),
        conditions,
        h("button", { type: "button", class: "small", id: "add-condition", onclick: () => change(() => state.conditions.push({ key: "ServiceName", value: "" }), true) }, "+ Add attribute"),
      ),
      h(
        "div",
        {},
        h(
          "div",
          { class: "field" },
          h("label", { for: "range", text: "Time range" }),
          h(
            "select",
            { id: "range", name: "range", value: state.range, onchange: (e) => change(() => { state.range = e.target.value; }, true) },
            Object.entries(RANGES).map(([value, [label]]) => h("option", { value, text: label })),
          ),
          state.range === "custom"
            ? h(
                "div",
                { class: "range-custom" },
                h("label", {}, "From ", h("input", { type: "datetime-local", name: "from", value: state.from, oninput: (e) => change(() => { state.from = e.target.value; }) })),
                h("label", {}, "To ", h("input", { type: "datetime-local", name: "to", value: state.to, oninput: (e) => change(() => { state.to = e.target.value; }) })),
              )
            : null,
        ),
        h(
          "div",
          { class: "row" },
          h(
            "select",
            { "aria-label": "Order", name: "direction", value: state.direction, onchange: (e) => change(() => { state.direction = e.target.value; }) },
            h("option", { value: "BACKWARD", text: "Newest first" }),
            h("option", { value: "FORWARD", text: "Oldest first" }),
          ),
          h(
            "select",
            { "aria-label": "Page size", name: "pageSize", value: state.pageSize, onchange: (e) => change(() => { state.pageSize = e.target.value; }) },
            ["20", "50"].map((n) => h("option", { value: n, text: `${n} per page` })),
          ),
          h("button", { type: "submit", class: "primary", id: "search" }, "Search"),
        ),
      ),
    ),
  );
}

function drawResults() {
  if (results.error) {
    render(resultsBox, errorBox(results.error));
    return;
  }
  if (!results.query) {
    render(resultsBox);
    return;
  }
  const bar = h(
    "div",
    { class: "results-bar" },
    h("strong", { id: "result-count", text: `${plural(results.events.length, "event")}${results.nextToken ? " loaded, more match" : ""}` }),
    h(
      "label",
      { class: "check", id: "console-reads", title: "Reads the console made to draw its pages, by any console user of this account" },
      h("input", {
        type: "checkbox",
        id: "show-console-reads",
        checked: state.showConsoleReads,
        onchange: (e) => {
          change(() => { state.showConsoleReads = e.target.checked; });
          search();
        },
      }),
      state.showConsoleReads ? " Show console reads" : ` Show console reads (${results.hidden} hidden${results.nextToken ? " so far" : ""})`,
    ),
    h("span", { class: "spacer" }),
    results.events.length
      ? h("button", { type: "button", class: "small", id: "export", onclick: (e) => exportLines(e.currentTarget) }, results.nextToken ? `Export JSON lines (up to ${EXPORT_LIMIT})` : "Export JSON lines")
      : null,
  );
  const rows = [];
  results.events.forEach((event, index) => {
    const detail = h("tr", { class: "detail-row", hidden: true }, h("td", { colspan: 8 }, detailOf(event)));
    const row = h(
      "tr",
      {
        class: "clickable",
        tabindex: "0",
        "data-index": String(index),
        "aria-expanded": "false",
        onclick: () => toggle(row, detail),
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            toggle(row, detail);
          }
        },
      },
      h("td", { class: "nowrap", text: when(event.eventTime) }),
      h(
        "td",
        {},
        h("span", { text: event.eventName }),
        viaConsole(event) ? [" ", h("span", { class: "badge", title: event.userAgent, text: "console" })] : null,
        event.errorCode ? [" ", h("span", { class: "badge bad", text: event.errorCode })] : null,
      ),
      h("td", { text: userOf(event) }),
      h("td", { class: "recorder", title: JSON.stringify(event.trailhouseRecorder || {}) }, breakable(recorderOf(event))),
      h("td", { class: "hide-phone", text: event.serviceName }),
      h("td", { class: "hide-phone", text: event.sourceIpAddress }),
      h("td", { class: "hide-phone cell-clip", title: event.resourceName || "", text: event.resourceName || "—" }),
      h("td", { class: "hide-phone", text: event.eventRW }),
    );
    rows.push(row, detail);
  });
  render(
    resultsBox,
    bar,
    results.events.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { id: "event-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { text: "Time (UTC)" }),
                h("th", { text: "Event" }),
                h("th", { text: "User" }),
                h("th", { text: "Recorded by" }),
                h("th", { class: "hide-phone", text: "Service" }),
                h("th", { class: "hide-phone", text: "Source IP" }),
                h("th", { class: "hide-phone", text: "Resource" }),
                h("th", { class: "hide-phone", text: "R/W" }),
              ),
            ),
            h("tbody", {}, rows),
          ),
        )
      : results.loading
        ? null
        : h("div", { class: "card empty" }, h("h2", { text: "No events match" }), h("p", { text: "Widen the time range or remove an attribute. Values match exactly (case matters)." })),
    h(
      "div",
      { class: "results-bar" },
      results.loading ? h("span", { class: "muted", text: "Searching…" }) : null,
      results.nextToken && !results.loading ? h("button", { type: "button", id: "load-more", onclick: more }, "Load more") : null,
    ),
  );
}

function toggle(row, detail) {
  const open = detail.hidden;
  detail.hidden = !open;
  row.classList.toggle("open", open);
  row.setAttribute("aria-expanded", String(open));
}

// A call the web console made for its user (events/console_calls.py).
function viaConsole(event) {
  return (event.additionalEventData || {}).callVia === "console";
}

function userOf(event) {
  const identity = event.userIdentity || {};
  if (identity.userName) return identity.userName;
  if (identity.type === "root-account") return `root (${identity.accountId || ""})`;
  return identity.type || "—";
}

// Who stored the event: trailhouse itself, or the key whose PutEvents call sent it (a producer's
// claim about userIdentity is only as good as that key).
function recorderOf(event) {
  const recorder = event.trailhouseRecorder || { type: "unknown" };
  if (recorder.type === "trailhouse" || recorder.type === "unknown") return recorder.type;
  const who = recorder.userName || (recorder.type === "root-account" ? "root" : recorder.type);
  return `${who} (${recorder.accessKeyId || "?"})`;
}

function detailOf(event) {
  const text = JSON.stringify(event, null, 2);
  return h(
    "div",
    {},
    h("pre", { class: "json", text }),
    h(
      "div",
      { class: "row" },
      copyButton("Copy JSON", text, "Event JSON copied.", "Select the JSON and copy it."),
    ),
  );
}

async function start() {
  draw();
  await search();
  complete();
}

start();
