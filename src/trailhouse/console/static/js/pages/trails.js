// Trails: the trails of the selected region with status, destination, event type and last
// delivery; start, stop and delete with confirmation.
import { call, currentRegion } from "../api.js";
import { identity, regionName } from "../shell.js";
import { EVENT_TYPES, STATUS, destination, explainDeliveryError, statusParameters, trailAction } from "../trails.js";
import { ago, breakable, errorBox, h, page, complete, render, when } from "../ui.js";

async function load() {
  const region = currentRegion();
  const head = h(
    "div",
    { class: "page-head" },
    h("h1", { text: "Trails" }),
    h("span", { class: "subtitle", text: regionName(region) }),
    h("span", { class: "spacer" }),
    h("a", { class: "button primary", href: "/console/trails/new", id: "create-trail" }, "Create Trail"),
  );
  const intro = h(
    "p",
    { class: "muted" },
    "A trail delivers your account's events into MaxCompute: project ",
    h("code", { text: `actiontrail_${identity.account}` }),
    ", one table per trail, ready for SQL.",
  );
  let trails;
  try {
    trails = (await call("DescribeTrails", { IncludeShadowTrails: true, IncludeOrganizationTrail: true })).TrailList;
  } catch (failure) {
    render(page(), head, errorBox(failure));
    complete();
    return;
  }
  const statuses = await Promise.all(
    trails.map((trail) => call("GetTrailStatus", statusParameters(trail, identity.account)).catch((failure) => ({ failure }))),
  );
  render(page(), head, intro, trails.length ? trailTable(trails, statuses, region) : emptyState(region));
  complete();
}

function emptyState(region) {
  return h(
    "div",
    { class: "card empty" },
    h("h2", { text: `No trails in ${regionName(region)} yet` }),
    h("p", { text: "Create a trail to keep your events beyond 90 days and analyse them with SQL." }),
    h("a", { class: "button primary", href: "/console/trails/new" }, "Create Trail"),
  );
}

function trailTable(trails, statuses, region) {
  const rows = trails.map((trail, i) => {
    const status = STATUS[trail.Status] || { label: trail.Status, tone: "" };
    const target = destination(trail);
    const state = statuses[i];
    const shadow = trail.HomeRegion !== region;
    return h(
      "tr",
      { "data-trail": trail.Name },
      h(
        "td",
        { "data-label": "Trail name" },
        h(
          "div",
          {},
          h("a", { href: `/console/trails/${encodeURIComponent(trail.Name)}`, text: trail.Name }),
          shadow ? h("div", { class: "small muted", text: `home region ${trail.HomeRegion}` }) : null,
          trail.IsOrganizationTrail ? h("div", { class: "small muted", text: "organization trail" }) : null,
        ),
      ),
      h("td", { "data-label": "Status" }, h("span", { class: ["badge", status.tone], text: status.label })),
      h(
        "td",
        { "data-label": "Destination" },
        target
          ? h("div", {}, breakable(`${target.project}.${target.table}`, { class: "breakable mono" }), h("div", { class: "small muted", text: `MaxCompute · ${target.region}` }))
          : h("span", { class: "muted", text: otherDestination(trail) }),
      ),
      h("td", { "data-label": "Event type", text: EVENT_TYPES[trail.EventRW] || trail.EventRW }),
      h("td", { "data-label": "Last delivery" }, h("div", {}, lastDelivery(state))),
      h("td", { class: "actions" }, actions(trail, shadow)),
    );
  });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "trail-list", class: "cards" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { text: "Trail name" }),
          h("th", { text: "Status" }),
          h("th", { text: "Destination" }),
          h("th", { text: "Event type" }),
          h("th", { text: "Last delivery" }),
          h("th", { class: "actions", text: "Actions" }),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function otherDestination(trail) {
  if (trail.SlsProjectArn) return "Log Service (not delivered by trailhouse)";
  if (trail.OssBucketName) return "OSS (not delivered by trailhouse)";
  return "—";
}

function lastDelivery(state) {
  if (state.failure) return h("span", { class: "muted small", text: state.failure.message });
  const parts = [];
  if (state.LatestDeliveryTime) {
    parts.push(h("div", { title: when(state.LatestDeliveryTime), text: ago(state.LatestDeliveryTime) }));
  } else {
    parts.push(h("div", { class: "muted", text: "not yet" }));
  }
  if (state.LatestDeliveryError) {
    parts.push(h("span", { class: "badge bad", title: state.LatestDeliveryError, text: explainDeliveryError(state.LatestDeliveryError).headline }));
  }
  return parts;
}

function actions(trail, shadow) {
  if (shadow) return h("span", { class: "small muted", text: "managed in its home region" });
  const logging = trail.Status === "Enable";
  const run = (kind) => async () => {
    if (await trailAction(kind, trail.Name)) load();
  };
  return [
    logging
      ? h("button", { type: "button", class: "small", "data-action": "stop", onclick: run("stop") }, "Stop")
      : h("button", { type: "button", class: "small", "data-action": "start", onclick: run("start") }, "Start"),
    h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: run("delete") }, "Delete"),
  ];
}

load();
