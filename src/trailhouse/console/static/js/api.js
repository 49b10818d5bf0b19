// Calls of the console API: /console/api/<Action> runs the same action the RPC API serves,
// for the signed-in identity, and answers its JSON or its error envelope.
import { saveKeptForms } from "./forms.js";

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";
const REGION_KEY = "th.region";

export class ApiError extends Error {
  constructor(code, message, status, requestId) {
    super(message);
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

export function currentRegion() {
  const regions = JSON.parse(document.getElementById("region")?.dataset.regions || "[]");
  const chosen = localStorage.getItem(REGION_KEY);
  return chosen && regions.includes(chosen) ? chosen : document.body.dataset.defaultRegion;
}

export function chooseRegion(region) {
  localStorage.setItem(REGION_KEY, region);
}

// Run an action. `region: false` leaves RegionId out (ListQuotas then answers every region).
export async function call(action, params = {}, { region = true } = {}) {
  const body = { ...params };
  if (region && !("RegionId" in body)) body.RegionId = currentRegion();
  return post(`/console/api/${encodeURIComponent(action)}`, body);
}

export async function post(url, body) {
  const response = await send(url, body);
  return response.json().catch(() => ({}));
}

// A finished SQL job's rows as CSV (at most 10,000), written by the server as the CLI writes
// them, a cell that a spreadsheet would run as a formula kept as text (docs/console.md).
export async function sqlResultCsv(jobId) {
  const response = await send("/console/download/sql-result", { JobId: jobId, RegionId: currentRegion() });
  return response.text();
}

// POST a JSON body with the session's CSRF token; the answer when it succeeded, else its error.
async function send(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
      body: JSON.stringify(body),
    });
  } catch (failure) {
    throw new ApiError("NetworkError", `The server cannot be reached (${failure.message}).`, 0, "");
  }
  if (response.ok) return response;
  const document_ = await response.json().catch(() => ({}));
  if (response.status === 401 && document_.Code === "SessionExpired") {
    sessionEnded();
    throw new ApiError(document_.Code, document_.Message, 401, document_.RequestId || "");
  }
  throw new ApiError(
    document_.Code || `HTTP${response.status}`,
    document_.Message || response.statusText,
    response.status,
    document_.RequestId || "",
  );
}

// The session ended (expired or signed out elsewhere): keep what was typed, sign in again,
// come back here.
export function sessionEnded() {
  saveKeptForms();
  const here = location.pathname + location.search;
  location.assign(`/console/signin?expired=1&next=${encodeURIComponent(here)}`);
}

// Submit a SQL job and wait for it to finish; `onProgress(job)` sees each state.
export async function runSql(project, sql, onProgress = () => {}) {
  const submitted = await call("SubmitSqlJob", { Project: project, Sql: sql });
  let job = submitted.Job;
  onProgress(job);
  let delay = 60;
  while (job.Status === "Waiting" || job.Status === "Running") {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.6, 800);
    job = (await call("GetSqlJob", { JobId: job.JobId })).Job;
    onProgress(job);
  }
  return job;
}

// Every row of a finished job (pages of up to `pageSize`, at most `limit` rows).
export async function sqlResult(jobId, { pageSize = 1000, limit = pageSize } = {}) {
  let offset = 0;
  let columns = [];
  let types = [];
  const rows = [];
  let more = true;
  while (more && rows.length < limit) {
    const page = await call("GetSqlJobResult", {
      JobId: jobId,
      Offset: offset,
      MaxResults: Math.min(pageSize, limit - rows.length),
    });
    columns = page.Columns;
    types = page.Types;
    rows.push(...page.Rows);
    more = page.NextOffset !== null && page.NextOffset !== undefined;
    offset = page.NextOffset ?? offset;
  }
  return { columns, types, rows, more };
}
