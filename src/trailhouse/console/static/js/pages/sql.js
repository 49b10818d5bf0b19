// SQL workbench: browse projects, tables (columns, partitions, sizes), write MaxCompute SQL
// from example audit queries, see its COST SQL estimate, run it, read the result as a table and
// a chart chosen from its shape, download it as CSV, with the job's bytes, complexity and cost.
// `?job=<id>` opens a job run elsewhere (PyODPS's Logview links arrive here).
import { call, currentRegion, runSql, sqlResult, sqlResultCsv } from "../api.js";
import { chartFor } from "../charts.js";
import { keepState, registerKeeper } from "../forms.js";
import { regionName } from "../shell.js";
import { bytes, complete, decimal, download, errorBox, h, millis, number, page, plural, ready, render, usd } from "../ui.js";

const PAGE_ROWS = 1000;
const EXAMPLES = [
  ["Most frequent API calls", "SELECT event_name, COUNT(*) AS calls\nFROM {table}\nGROUP BY event_name\nORDER BY calls DESC\nLIMIT 20"],
  [
    "Events per hour, last 2 days",
    "SELECT SUBSTR(event_time, 1, 13) AS hour, COUNT(*) AS events\nFROM {table}\nWHERE ds >= TO_CHAR(DATEADD(GETDATE(), -2, 'dd'), 'yyyymmdd')\nGROUP BY SUBSTR(event_time, 1, 13)\nORDER BY hour",
  ],
  ["Events per day", "SELECT ds, COUNT(*) AS events\nFROM {table}\nGROUP BY ds\nORDER BY ds"],
  [
    "Who does the most (RAM users)",
    "SELECT GET_JSON_OBJECT(event, '$.userIdentity.userName') AS user_name, COUNT(*) AS calls\nFROM {table}\nWHERE user_type = 'ram-user'\nGROUP BY GET_JSON_OBJECT(event, '$.userIdentity.userName')\nORDER BY calls DESC\nLIMIT 20",
  ],
  [
    "Failed calls by error code",
    "SELECT error_code, COUNT(*) AS failures\nFROM {table}\nWHERE error_code IS NOT NULL AND error_code <> ''\nGROUP BY error_code\nORDER BY failures DESC",
  ],
  [
    "Console sign-ins",
    "SELECT event_time, user_name, source_ip_address, user_agent\nFROM {table}\nWHERE event_type = 'ConsoleSignin'\nORDER BY event_time DESC\nLIMIT 100",
  ],
  [
    "Write calls by source IP",
    "SELECT source_ip_address, COUNT(*) AS writes, COUNT(DISTINCT event_name) AS actions\nFROM {table}\nWHERE event_rw = 'Write'\nGROUP BY source_ip_address\nORDER BY writes DESC\nLIMIT 20",
  ],
  [
    "AccessKeys in use",
    "SELECT access_key_id, MIN(event_time) AS first_seen, MAX(event_time) AS last_seen, COUNT(*) AS calls\nFROM {table}\nWHERE access_key_id IS NOT NULL\nGROUP BY access_key_id\nORDER BY calls DESC",
  ],
  [
    "Deleted resources",
    "SELECT event_time, user_name, event_name, resource_type, resource_name\nFROM {table}\nWHERE event_name LIKE 'Delete%' AND (error_code IS NULL OR error_code = '')\nORDER BY event_time DESC\nLIMIT 100",
  ],
];

const params = new URLSearchParams(location.search);
const kept = keepState("sql", { project: "", table: "", sql: "", chart: "auto" });
const state = kept.state;
// A link naming a table (from Create Trail) starts a query on it, unless it is the table the
// kept editor already works on (e.g. back from signing in again).
if (params.get("table") && (params.get("table") !== state.table || params.get("project") !== state.project)) {
  Object.assign(state, { project: params.get("project") || "", table: params.get("table"), sql: "" });
}
registerKeeper("sql", () => {
  const editor = document.getElementById("sql-editor");
  if (editor) state.sql = editor.value;
  kept.save();
});
const save = () => kept.save();

const catalog = { projects: [], tables: {}, partitions: {}, error: null, open: new Set() };
const run = { estimate: null, job: null, result: null, error: null, busy: false };

// ---- catalog ------------------------------------------------------------------------------------

async function loadCatalog() {
  try {
    catalog.projects = (await call("ListProjects")).Projects;
  } catch (failure) {
    catalog.error = failure;
    return;
  }
  if (!catalog.projects.some((p) => p.Name === state.project)) state.project = catalog.projects[0]?.Name || "";
  if (state.project) {
    catalog.open.add(state.project);
    await loadTables(state.project);
  }
  const tables = catalog.tables[state.project] || [];
  if (!tables.some((t) => t.Name === state.table)) state.table = tables.find((t) => t.Rows > 0)?.Name || tables[0]?.Name || "";
  if (!state.sql) state.sql = example(0);
  save();
}

async function loadTables(project) {
  if (catalog.tables[project]) return;
  try {
    catalog.tables[project] = (await call("ListTables", { Project: project })).Tables;
  } catch (failure) {
    catalog.tables[project] = failure;
  }
}

async function loadPartitions(project, table) {
  const key = `${project}.${table}`;
  if (catalog.partitions[key]) return;
  try {
    catalog.partitions[key] = (await call("ListPartitions", { Project: project, Table: table })).Partitions;
  } catch (failure) {
    catalog.partitions[key] = failure;
  }
}

function example(index) {
  return EXAMPLES[index][1].replaceAll("{table}", state.table || "<table>");
}

// ---- drawing ---------------------------------------------------------------------------------------

const browserBox = h("aside", { class: "card browser", id: "browser", "aria-label": "Projects and tables" });
const resultBox = h("div", { id: "result" });

function draw() {
  const editor = h("textarea", {
    id: "sql-editor",
    class: "editor",
    name: "sql",
    spellcheck: "false",
    "aria-label": "SQL",
    value: state.sql,
    oninput: (e) => {
      state.sql = e.target.value;
      save();
    },
    onkeydown: (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        execute(false);
      }
    },
  });
  const projectSelect = h(
    "select",
    {
      id: "project",
      "aria-label": "Project",
      value: state.project,
      onchange: async (e) => {
        state.project = e.target.value;
        save();
        catalog.open.add(state.project);
        await loadTables(state.project);
        drawBrowser();
      },
    },
    catalog.projects.map((p) => h("option", { value: p.Name, text: p.Name })),
  );
  const examples = h(
    "select",
    {
      id: "examples",
      "aria-label": "Example audit queries",
      onchange: (e) => {
        if (e.target.value === "") return;
        editor.value = example(Number(e.target.value));
        state.sql = editor.value;
        save();
        e.target.value = "";
        editor.focus();
      },
    },
    h("option", { value: "", text: "Example audit queries…" }),
    EXAMPLES.map(([label], i) => h("option", { value: String(i), text: label })),
  );
  render(
    page(),
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: "SQL workbench" }),
      h("span", { class: "subtitle", text: `MaxCompute SQL · ${regionName(currentRegion())}` }),
    ),
    h(
      "div",
      { class: "workbench" },
      browserBox,
      h(
        "div",
        {},
        h(
          "section",
          { class: "card" },
          h("div", { class: "row" }, h("label", { for: "project", class: "nowrap", text: "Project" }), projectSelect, h("span", { class: "spacer" }), examples),
          editor,
          h(
            "div",
            { class: "editor-bar" },
            h("button", { type: "button", class: "primary", id: "run", disabled: run.busy, onclick: () => execute(false) }, "Run"),
            h("button", { type: "button", id: "estimate", disabled: run.busy, onclick: () => execute(true) }, "Estimate cost"),
            h("span", { class: "small muted hide-phone", text: "Ctrl+Enter runs. Every run shows its COST SQL estimate first." }),
          ),
        ),
        resultBox,
      ),
    ),
  );
  drawBrowser();
  drawResult();
}

function drawBrowser() {
  if (catalog.error) {
    render(browserBox, h("h2", { text: "Projects" }), h("div", { class: "table-detail" }, errorBox(catalog.error)));
    return;
  }
  const projects = catalog.projects.map((project) => {
    const open = catalog.open.has(project.Name);
    const tables = catalog.tables[project.Name];
    return h(
      "li",
      { class: "project" },
      h(
        "button",
        {
          type: "button",
          "aria-expanded": String(open),
          onclick: async () => {
            if (open) catalog.open.delete(project.Name);
            else {
              catalog.open.add(project.Name);
              await loadTables(project.Name);
            }
            drawBrowser();
          },
        },
        `${open ? "▾" : "▸"} ${project.Name}`,
      ),
      open ? tableList(project.Name, tables) : null,
    );
  });
  render(
    browserBox,
    h("h2", { text: "Projects" }),
    catalog.projects.length
      ? h("ul", {}, projects)
      : h("p", { class: "table-detail muted", text: "No project you may query in this region. A trail's first delivery creates actiontrail_<account id>." }),
  );
}

function tableList(project, tables) {
  if (!tables) return h("p", { class: "table-detail muted", text: "Loading…" });
  if (tables instanceof Error) return h("div", { class: "table-detail" }, errorBox(tables));
  if (!tables.length) return h("p", { class: "table-detail muted", text: "No tables yet." });
  return h(
    "ul",
    {},
    tables.map((table) => {
      const selected = project === state.project && table.Name === state.table;
      const key = `${project}.${table.Name}`;
      return h(
        "li",
        { class: ["table", selected && "selected"], "data-table": table.Name },
        h(
          "button",
          {
            type: "button",
            title: `${plural(table.Rows, "row")}, ${bytes(table.Bytes)}, ${plural(table.Partitions, "partition")}`,
            onclick: async () => {
              state.project = project;
              state.table = table.Name;
              save();
              document.getElementById("project").value = project;
              await loadPartitions(project, table.Name);
              drawBrowser();
            },
          },
          table.Name,
          h("span", { class: "meta", text: bytes(table.Bytes) }),
        ),
        selected ? tableDetail(project, table, catalog.partitions[key]) : null,
      );
    }),
  );
}

function tableDetail(project, table, partitions) {
  return h(
    "div",
    { class: "table-detail" },
    h("div", { class: "muted", text: `${plural(table.Rows, "row")} · ${bytes(table.Bytes)} · ${plural(table.Partitions, "partition")}` }),
    h("ul", { class: "columns-list" }, table.Columns.map((c) => h("li", { text: c.Name })), table.PartitionKeys.map((c) => h("li", { text: `${c.Name} (partition)` }))),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        {
          type: "button",
          class: "small",
          onclick: () => {
            const editor = document.getElementById("sql-editor");
            editor.value = `SELECT event_time, event_name, user_name, source_ip_address\nFROM ${table.Name}\nORDER BY event_time DESC\nLIMIT 100`;
            state.sql = editor.value;
            save();
          },
        },
        "Preview rows",
      ),
    ),
    partitions instanceof Error ? errorBox(partitions) : partitions ? partitionTable(partitions) : null,
  );
}

function partitionTable(partitions) {
  if (!partitions.length) return h("p", { class: "muted", text: "No partitions yet." });
  return h(
    "table",
    { class: "partitions" },
    h("thead", {}, h("tr", {}, h("th", { text: "ds" }), h("th", { class: "num", text: "rows" }), h("th", { class: "num", text: "size" }))),
    h(
      "tbody",
      {},
      partitions
        .slice(-14)
        .reverse()
        .map((p) => h("tr", {}, h("td", { text: p.Ds }), h("td", { class: "num", text: number(p.Rows) }), h("td", { class: "num", text: bytes(p.Bytes) }))),
    ),
  );
}

// ---- running -------------------------------------------------------------------------------------------

async function estimateOf(sql) {
  const job = await runSql(state.project, `COST SQL ${sql}`);
  if (job.Status !== "Terminated") throw jobError(job);
  return job;
}

function jobError(job) {
  return Object.assign(new Error(job.ErrorMessage || `The job ended ${job.Status}`), { code: job.ErrorCode || job.Status, requestId: job.JobId });
}

async function execute(estimateOnly) {
  const sql = document.getElementById("sql-editor").value.trim().replace(/;\s*$/, "");
  if (!sql || !state.project || run.busy) return;
  Object.assign(run, { estimate: null, job: null, result: null, error: null, busy: true });
  draw();
  try {
    run.estimate = await estimateOf(sql);
    drawResult();
    if (!estimateOnly) {
      run.job = await runSql(state.project, sql, (job) => {
        run.job = job;
        drawResult();
      });
      if (run.job.Status !== "Terminated") throw jobError(run.job);
      run.result = await sqlResult(run.job.JobId, { pageSize: PAGE_ROWS });
    }
  } catch (failure) {
    run.error = failure;
  }
  run.busy = false;
  draw();
}

function drawResult() {
  const parts = [];
  if (run.busy && !run.estimate) parts.push(h("p", { class: "muted", text: "Estimating the cost…" }));
  if (run.estimate) parts.push(estimateCard(run.estimate));
  if (run.job) parts.push(jobCard(run.job));
  if (run.error) parts.push(h("div", { id: "sql-error" }, errorBox(run.error)));
  if (run.result) parts.push(...resultCards(run.result, run.job));
  render(resultBox, parts);
}

function estimateCard(job) {
  return h(
    "section",
    { class: "card", id: "estimate-card" },
    h("h3", { text: "COST SQL estimate" }),
    h(
      "div",
      { class: "job-stats" },
      stat("Input", bytes(job.InputBytes)),
      stat("Complexity", decimal(job.Complexity, 4)),
      stat("Partitions", `${job.PartitionsRead} of ${job.PartitionsTotal}`),
      stat("Estimated cost", usd(job.CostUSD)),
      stat("Quota", job.Quota),
    ),
  );
}

function jobCard(job) {
  const done = !(job.Status === "Waiting" || job.Status === "Running");
  const bar = h("div", { class: ["progress", !done && job.Progress === 0 && "indeterminate"] }, h("span"));
  bar.firstChild.style.width = `${Math.round((done ? 1 : job.Progress) * 100)}%`;
  return h(
    "section",
    { class: "card", id: "job-card", "data-status": job.Status },
    h("h3", { text: `Job ${job.JobId} · ${job.Status}` }),
    done ? null : bar,
    h(
      "div",
      { class: "job-stats" },
      stat("Bytes scanned", bytes(job.InputBytes)),
      stat("Complexity", decimal(job.Complexity, 4)),
      stat("Cost", usd(job.CostUSD)),
      stat("Rows", number(job.Rows)),
      stat("Run time", millis(job.RunSeconds * 1000)),
      stat("Queued", millis(job.QueueSeconds * 1000)),
      stat("Engine", job.Engine),
    ),
  );
}

function stat(label, value) {
  return h("span", {}, `${label}: `, h("b", { text: value }));
}

function resultCards(result, job) {
  const chosen = chartFor(result, state.chart);
  const chartSelect = h(
    "select",
    {
      "aria-label": "Chart",
      id: "chart-kind",
      value: state.chart,
      onchange: (e) => {
        state.chart = e.target.value;
        save();
        drawResult();
      },
    },
    [
      ["auto", "Chart: automatic"],
      ["bar", "Bar chart"],
      ["line", "Line chart"],
      ["none", "No chart"],
    ].map(([value, text]) => h("option", { value, text })),
  );
  const table = h(
    "div",
    { class: "table-wrap result-table" },
    h(
      "table",
      { id: "result-table" },
      h("thead", {}, h("tr", {}, result.columns.map((c, i) => h("th", { class: result.rows.length && typeof result.rows[0][i] === "number" ? "num" : null, text: c })))),
      h(
        "tbody",
        {},
        result.rows.map((row) =>
          h(
            "tr",
            {},
            row.map((value) => h("td", { class: typeof value === "number" ? "num" : null, title: value === null ? "NULL" : String(value), text: cellText(value) })),
          ),
        ),
      ),
    ),
  );
  return [
    h(
      "section",
      { class: "card", id: "chart-card" },
      h("div", { class: "row" }, h("h3", { text: chosen ? chosen.title : "Chart" }), h("span", { class: "spacer" }), chartSelect),
      chosen ? h("div", { id: "result-chart", "data-kind": chosen.kind }, chosen.element) : h("p", { class: "muted small", text: "No chart for this result: a chart needs a label column and a number column." }),
    ),
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "results-bar" },
        h("strong", { id: "row-count", text: `${plural(job.Rows, "row")}${job.Truncated ? " (result truncated by the server)" : ""}${result.more ? `, first ${number(result.rows.length)} shown` : ""}` }),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "small", id: "download-csv", onclick: (e) => downloadCsv(e.currentTarget, job) }, "Download CSV"),
      ),
      table,
    ),
  ];
}

async function downloadCsv(button, job) {
  button.disabled = true;
  try {
    download(`${job.JobId}.csv`, await sqlResultCsv(job.JobId), "text/csv");
  } catch (failure) {
    run.error = failure;
    drawResult();
  }
  button.disabled = false;
}

// A link naming a job (a PyODPS Logview link lands here) opens that job: its SQL in the editor,
// its figures, and its rows or its error.
async function openJob(jobId) {
  Object.assign(run, { estimate: null, job: null, result: null, error: null, busy: true });
  try {
    run.job = (await call("GetSqlJob", { JobId: jobId })).Job;
    state.project = run.job.Project;
    state.sql = run.job.Sql.trim().replace(/;\s*$/, "");
    save();
    if (run.job.Status === "Waiting" || run.job.Status === "Running") {
      draw();
      while (run.job.Status === "Waiting" || run.job.Status === "Running") {
        await new Promise((resolve) => setTimeout(resolve, 500));
        run.job = (await call("GetSqlJob", { JobId: jobId })).Job;
        drawResult();
      }
    }
    if (run.job.Status === "Terminated") run.result = await sqlResult(jobId, { pageSize: PAGE_ROWS });
    else run.error = jobError(run.job);
  } catch (failure) {
    run.error = failure;
  }
  run.busy = false;
}

async function start() {
  render(page(), h("p", { class: "muted", text: "Loading projects…" }));
  await loadCatalog();
  if (params.get("job")) {
    await openJob(params.get("job"));
    if (state.project && !catalog.tables[state.project]) {
      catalog.open.add(state.project);
      await loadTables(state.project);
    }
  }
  if (state.project && state.table) await loadPartitions(state.project, state.table);
  draw();
  ready();
  complete();
}

start();

// A result cell as text: whole numbers as they are (ids, years), other numbers as plain decimals of up to 10
// significant digits (the cell's title keeps the exact value, and the CSV too).
function cellText(value) {
  if (value === null) return "NULL";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : decimal(value, 10);
}
