// Trail helpers shared by the Trails list, the trail detail and the Create Trail wizard.
import { call } from "./api.js";
import { confirm, toast } from "./ui.js";

export const EVENT_TYPES = {
  All: "Read and write events",
  Write: "Write events",
  Read: "Read events",
};

export const STATUS = {
  Enable: { label: "Logging", tone: "ok" },
  Disable: { label: "Stopped", tone: "" },
  Fresh: { label: "Not started", tone: "info" },
};

// "acs:odps:<region>:<account>:project/<name>" → { region, account, name }
export function parseProjectArn(arn) {
  const match = /^acs:odps:([^:]*):([^:]*):project\/(.+)$/.exec(arn || "");
  return match ? { region: match[1], account: match[2], name: match[3] } : null;
}

export function tableName(trailName) {
  return `actiontrail_${trailName.replaceAll("-", "_")}`.toLowerCase();
}

export function projectName(accountId) {
  return `actiontrail_${accountId}`;
}

// Where a trail's events land, as "project.table" (empty for a trail without MaxCompute).
export function destination(trail) {
  const project = parseProjectArn(trail.MaxComputeProjectArn);
  if (project) return { project: project.name, region: project.region, table: tableName(trail.Name) };
  return null;
}

// GetTrailStatus parameters: a member account's view of its organization's trail says so.
export function statusParameters(trail, accountId) {
  const owner = (trail.TrailArn || "").split(":")[3];
  return trail.IsOrganizationTrail && owner && owner !== accountId
    ? { Name: trail.Name, IsOrganizationTrail: true }
    : { Name: trail.Name };
}

// The delivery error of GetTrailStatus in plain words: a headline, then the server's message
// (which names what is missing and how to fix it).
export function explainDeliveryError(message) {
  const text = message || "";
  let headline = "Delivery is failing";
  if (/trust/i.test(text)) headline = "The delivery role no longer trusts this account";
  else if (/AliyunActionTrailDeliveryPolicy/.test(text)) headline = "The delivery role lacks the delivery policy";
  else if (/role/i.test(text) && /(not exist|no such|missing)/i.test(text)) headline = "The delivery role does not exist";
  else if (/project/i.test(text) && /(not exist|no such)/i.test(text)) headline = "The destination project does not exist";
  else if (/(space|disk|full)/i.test(text)) headline = "The warehouse disk is full";
  else if (/(permission|refuse|not allowed)/i.test(text)) headline = "The project refuses the trail's writes";
  return {
    headline,
    message: text,
    advice: "trailhouse retries by itself (every few seconds, backing off to a minute); delivery resumes and this message clears once the cause is fixed. No event is lost meanwhile.",
  };
}

// Start, stop or delete with a confirmation; resolves true when the action ran.
export async function trailAction(kind, name) {
  const texts = {
    start: {
      title: `Start logging for ${name}?`,
      message: "The trail records the events accepted from now on and delivers them to its MaxCompute table within seconds.",
      confirmLabel: "Start logging",
      action: "StartLogging",
      done: `Trail ${name} is logging.`,
    },
    stop: {
      title: `Stop logging for ${name}?`,
      message: "Events accepted until now are still delivered; events after this moment are not. You can start it again later (a delivery history job fills the gap).",
      confirmLabel: "Stop logging",
      action: "StopLogging",
      done: `Trail ${name} stopped logging.`,
      danger: true,
    },
    delete: {
      title: `Delete trail ${name}?`,
      message: "The trail stops delivering and is removed. Its MaxCompute table and the events already delivered stay in the warehouse.",
      confirmLabel: "Delete trail",
      action: "DeleteTrail",
      done: `Trail ${name} was deleted.`,
      danger: true,
    },
  }[kind];
  if (!(await confirm(texts))) return false;
  try {
    await call(texts.action, { Name: name });
  } catch (failure) {
    toast(`${failure.code}: ${failure.message}`, { bad: true });
    return false;
  }
  toast(texts.done);
  return true;
}
