// A trail's page: its settings and delivery status (GetTrailStatus, with trailhouse's
// Delivery* and LatestDigest* fields), the delivery error in plain words, events delivered per
// hour (a SQL job on the trail's table), and delivery history jobs with their progress.
import { call, runSql, sqlResult } from "../api.js";
import { barChart } from "../charts.js";
import { identity } from "../shell.js";
import {
  EVENT_TYPES,
  STATUS,
  destination,
  explainDeliveryError,
  statusParameters,
  trailAction,
} from "../trails.js";
import { ago, breakable, complete, errorBox, h, millis, number, page, ready, render, toast, usd, when } from "../ui.js";

const NAME = document.body.dataset.trail;
const HOURS = 48;
const JOB_STATES = { 0: "Starting", 1: "Delivering", 2: "Complete", 3: "Failed" };

async function load() {
  const head = h("div", { class: "breadcrumb" }, h("a", { href: "/console/trails", text: "Trails" }), ` / ${NAME}`);
  let trail;
  let status;
  try {
    const found = (await call("DescribeTrails", { NameList: NAME, IncludeShadowTrails: true, IncludeOrganizationTrail: true })).TrailList;
    trail = found.find((t) => t.Name === NAME) || { Name: NAME, TrailArn: "" };
    status = await call("GetTrailStatus", statusParameters(trail, identity.account));
  } catch (failure) {
    render(page(), head, h("div", { class: "page-head" }, h("h1", { text: NAME })), errorBox(failure));
    complete();
    return;
  }
  const target = destination(trail);
  const chart = h("div", { id: "hourly-chart" }, h("p", { class: "muted", text: "Counting events per hour…" }));
  const history = h("div", { id: "history" });
  render(
    page(),
    head,
    header(trail, status),
    status.LatestDeliveryError ? deliveryError(status.LatestDeliveryError) : null,
    h("section", { class: "card" }, h("h2", { text: "Delivery status" }), facts(trail, status, target)),
    h(
      "section",
      { class: "card" },
      h("h2", { text: `Events per hour, last ${HOURS} hours (UTC, by event time)` }),
      chart,
    ),
    h("section", { class: "card" }, h("h2", { text: "Delivery history" }), history),
    h("section", { class: "card" }, h("h2", { text: "Settings" }), settings(trail)),
  );
  ready();
  await Promise.all([hourlyChart(chart, target), historyJobs(history, trail)]);
  complete();
}

function header(trail, status) {
  const state = STATUS[trail.Status] || { label: trail.Status || "", tone: "" };
  const logging = status.IsLogging;
  const run = (kind) => async () => {
    if (!(await trailAction(kind, NAME))) return;
    if (kind === "delete") location.assign("/console/trails");
    else load();
  };
  return h(
    "div",
    { class: "page-head" },
    h("h1", { text: NAME }),
    h("span", { class: ["badge", state.tone], id: "trail-status", text: state.label }),
    h("span", { class: "spacer" }),
    logging
      ? h("button", { type: "button", "data-action": "stop", onclick: run("stop") }, "Stop logging")
      : h("button", { type: "button", class: "primary", "data-action": "start", onclick: run("start") }, "Start logging"),
    h("button", { type: "button", class: "danger", "data-action": "delete", onclick: run("delete") }, "Delete"),
  );
}

function deliveryError(message) {
  const plain = explainDeliveryError(message);
  return h(
    "div",
    { class: "callout bad", id: "delivery-error", role: "alert" },
    h("h3", { text: plain.headline }),
    h("p", { text: plain.message }),
    h("p", { class: "small", text: plain.advice }),
  );
}

function facts(trail, status, target) {
  const items = [
    ["Logging", status.IsLogging ? "Yes" : "No"],
    ["Started logging", when(status.StartLoggingTime)],
    ["Stopped logging", when(status.StopLoggingTime)],
    ["Last delivery", status.LatestDeliveryTime ? `${ago(status.LatestDeliveryTime)} · ${when(status.LatestDeliveryTime)}` : "not yet"],
  ];
  if (target) {
    items.push(
      ["Table", status.DeliveryTable || `${target.project}.${target.table}`],
      ["Delivered events", number(status.DeliveredEvents)],
      ["Backlog (log positions)", number(status.DeliveryBacklog)],
      ["Delivered up to (watermark)", when(status.DeliveredUpTo)],
      ["Lag p50 / p99 / max", status.DeliveredEvents ? `${millis(status.DeliveryLagP50Ms)} / ${millis(status.DeliveryLagP99Ms)} / ${millis(status.DeliveryLagMaxMs)}` : "—"],
      ["Checkpoint (log position)", number(status.DeliveryCheckpoint)],
      ["Delivery worker", status.DeliveryWorker || "none holds it now"],
      ["Lost to retention", number(status.DeliveryLostEvents)],
      ["Latest signed digest", status.LatestDigestSequence ? `#${status.LatestDigestSequence}, up to ${when(status.LatestDigestEndTime)}` : "none yet"],
    );
    if (status.LatestDigestSha256) items.push(["Digest SHA-256", status.LatestDigestSha256]);
  }
  return h(
    "dl",
    { class: "facts", id: "status-facts" },
    items.map(([label, value]) =>
      h(
        "div",
        {},
        h("dt", { text: label }),
        label === "Table" && target
          ? h("dd", {}, h("a", { href: `/console/sql?project=${encodeURIComponent(target.project)}&table=${encodeURIComponent(target.table)}`, title: "Query it in the SQL workbench", text: value }))
          : h("dd", { class: label === "Digest SHA-256" ? "mono small" : null }, breakable(value)),
      ),
    ),
  );
}

function settings(trail) {
  const rows = [
    ["Trail ARN", trail.TrailArn],
    ["Home region", trail.HomeRegion],
    ["Regions recorded", trail.TrailRegion === "All" ? "All regions" : trail.TrailRegion],
    ["Event type", EVENT_TYPES[trail.EventRW] || trail.EventRW],
    ["MaxCompute project ARN", trail.MaxComputeProjectArn || "—"],
    ["Delivery role", trail.MaxComputeWriteRoleArn || "the account's service-linked role"],
    ["Created", when(trail.CreateTime)],
    ["Updated", when(trail.UpdateTime)],
  ];
  if (trail.IsOrganizationTrail) rows.push(["Organization", trail.OrganizationId || "yes"]);
  return h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, breakable(v || "—"))]));
}

// ---- events per hour -----------------------------------------------------------------------------

function hoursBack(count) {
  const now = new Date();
  now.setUTCMinutes(0, 0, 0);
  const hours = [];
  for (let i = count - 1; i >= 0; i -= 1) {
    hours.push(new Date(now.getTime() - i * 3600_000).toISOString().slice(0, 13));
  }
  return hours;
}

async function hourlyChart(container, target) {
  if (!target) {
    render(container, h("p", { class: "muted", text: "This trail does not deliver to MaxCompute." }));
    return;
  }
  const hours = hoursBack(HOURS);
  const since = hours[0].slice(0, 10).replaceAll("-", "");
  const sql =
    `SELECT SUBSTR(event_time, 1, 13) h, COUNT(*) n FROM ${target.table} ` +
    `WHERE ds >= '${since}' AND event_time >= '${hours[0]}' ` +
    "GROUP BY SUBSTR(event_time, 1, 13) ORDER BY h";
  try {
    const job = await runSql(target.project, sql);
    if (job.Status !== "Terminated") throw Object.assign(new Error(job.ErrorMessage || job.Status), { code: job.ErrorCode || job.Status });
    const result = await sqlResult(job.JobId, { pageSize: 1000 });
    const counts = new Map(result.rows.map(([hour, n]) => [hour, Number(n)]));
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    render(
      container,
      barChart({
        labels: hours.map((hour) => `${hour.slice(5, 10)} ${hour.slice(11)}h`),
        series: [{ name: "events", values: hours.map((hour) => counts.get(hour) || 0) }],
        title: "events per hour",
      }),
      h(
        "p",
        { class: "small muted" },
        `${number(total)} events in the table for these hours. Counted by the SQL job ${job.JobId} (${millis(job.RunSeconds * 1000)}, ${usd(job.CostUSD)}): `,
        h("code", { text: sql }),
      ),
    );
  } catch (failure) {
    if (failure.code === "ODPS-0130131" || failure.code === "NoSuchProject") {
      render(container, h("p", { class: "muted", id: "no-deliveries", text: "No events delivered yet: the table is created by the trail's first delivery." }));
    } else {
      render(container, errorBox(failure, { title: "The hourly counts could not be read" }));
    }
  }
}

// ---- delivery history jobs ---------------------------------------------------------------------------

async function historyJobs(container, trail) {
  let jobs = [];
  try {
    jobs = (await call("ListDeliveryHistoryJobs", { PageSize: 100 })).DeliveryHistoryJobs.filter((j) => j.TrailName === NAME);
  } catch (failure) {
    render(container, errorBox(failure));
    return;
  }
  const progress = h("div", { id: "history-progress" });
  const button = h(
    "button",
    {
      type: "button",
      id: "start-history",
      disabled: !trail.MaxComputeProjectArn,
      onclick: async () => {
        button.disabled = true;
        try {
          const created = await call("CreateDeliveryHistoryJob", { TrailName: NAME, ClientToken: crypto.randomUUID() });
          toast(`Delivery history job ${created.JobId} started.`);
          await follow(progress, created.JobId);
        } catch (failure) {
          render(progress, errorBox(failure));
        } finally {
          button.disabled = false;
        }
      },
    },
    "Deliver history",
  );
  render(
    container,
    h(
      "p",
      { class: "muted" },
      "A trail delivers the events accepted while it logs. A delivery history job backfills the rest of the last 90 days into the same table; events already delivered are skipped, never doubled.",
    ),
    h("div", { class: "row" }, button),
    progress,
    jobs.length ? jobTable(jobs) : null,
  );
  const running = jobs.find((j) => j.JobStatus === 0 || j.JobStatus === 1);
  if (running) follow(progress, running.JobId);
}

async function follow(container, jobId) {
  for (;;) {
    let job;
    try {
      job = await call("GetDeliveryHistoryJob", { JobId: jobId });
    } catch (failure) {
      render(container, errorBox(failure));
      return;
    }
    const done = job.JobStatus === 2 || job.JobStatus === 3;
    const bar = h("div", { class: ["progress", !done && "indeterminate"] }, h("span"));
    if (done) bar.firstChild.style.width = "100%";
    render(
      container,
      h(
        "div",
        { class: ["callout", job.JobStatus === 3 ? "bad" : done ? "ok" : ""], "data-job-status": String(job.JobStatus) },
        h("h3", { text: `Job ${job.JobId}: ${JOB_STATES[job.JobStatus] || job.JobStatus}` }),
        bar,
        h("p", { text: `${number(job.DeliveredEvents)} events delivered${job.StartTime ? `, covering ${when(job.StartTime)} – ${when(job.EndTime)}` : ""}.` }),
        job.ErrorMessage ? h("p", { text: job.ErrorMessage }) : null,
      ),
    );
    if (done) return;
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

function jobTable(jobs) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { text: "Job" }), h("th", { text: "Status" }), h("th", { class: "hide-phone", text: "Created" }), h("th", { text: "Ran" }))),
      h(
        "tbody",
        {},
        jobs.slice(0, 10).map((j) =>
          h(
            "tr",
            {},
            h("td", { text: String(j.JobId) }),
            h("td", { text: JOB_STATES[j.JobStatus] || String(j.JobStatus) }),
            h("td", { class: "hide-phone", text: when(j.CreatedTime) }),
            h("td", { text: j.StartTime ? `${when(j.StartTime)} – ${when(j.EndTime) === "—" ? "running" : when(j.EndTime).slice(11)}` : "—" }),
          ),
        ),
      ),
    ),
  );
}

load();
