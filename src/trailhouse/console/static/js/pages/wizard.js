// Create Trail, following ActionTrail's console: Basic Information; Management Event Delivery
// Settings with Delivery to MaxCompute and the Destination Account; Confirm. The API checks
// every value: its message appears beside the field that caused it, and what was typed stays
// (also across an expired session: the state lives in sessionStorage).
import { call, currentRegion } from "../api.js";
import { keepState, registerKeeper } from "../forms.js";
import { identity, regionIds, regionName } from "../shell.js";
import { EVENT_TYPES, projectName, tableName } from "../trails.js";
import { breakable, copyButton, errorBox, h, page, complete, render, toast } from "../ui.js";

const STEPS = ["Basic Information", "Delivery Settings", "Confirm"];
const NAME_RULE = /^[a-z][a-z0-9_-]{5,35}$/;
const FIELD_STEP = {
  name: 1,
  eventRW: 1,
  trailRegion: 1,
  deliverMc: 2,
  mcRegion: 2,
  quota: 2,
  projectArn: 2,
  roleArn: 2,
  form: 3,
};

const kept = keepState("create-trail", {
  step: 1,
  name: "",
  eventRW: "All",
  trailRegion: "All",
  deliverMc: true,
  destination: "current",
  mcRegion: currentRegion(),
  quota: "",
  projectArn: "",
  roleArn: "",
  startLogging: true,
});
const state = kept.state;
registerKeeper("create-trail", kept.save);

const view = { errors: {}, quotas: null, quotaError: null, projects: {}, busy: false, created: null };

function set(field, value, { rerender = false } = {}) {
  state[field] = value;
  kept.save();
  if (view.errors[field]) {
    delete view.errors[field];
    const slot = document.getElementById(`error-${field}`);
    if (slot) slot.textContent = "";
    slot?.closest(".field")?.classList.remove("invalid");
  }
  if (rerender) draw();
}

// ---- data --------------------------------------------------------------------------------------

async function loadQuotas() {
  try {
    view.quotas = (await call("ListQuotas", {}, { region: false })).Quotas;
  } catch (failure) {
    view.quotas = [];
    view.quotaError = failure;
  }
}

async function loadProject(region) {
  if (region in view.projects) return;
  try {
    const projects = (await call("ListProjects", { RegionId: region })).Projects;
    view.projects[region] = projects.find((p) => p.Name === projectName(identity.account)) || null;
  } catch {
    view.projects[region] = null;
  }
}

const quotasIn = (region) => (view.quotas || []).filter((q) => q.Region === region);

// ---- drawing -----------------------------------------------------------------------------------

function draw() {
  if (view.created) return drawDone();
  const body = [basicStep, deliveryStep, confirmStep][state.step - 1]();
  render(
    page(),
    h(
      "div",
      { class: "breadcrumb" },
      h("a", { href: "/console/trails", text: "Trails" }),
      " / Create Trail",
    ),
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: "Create Trail" }),
      h("span", { class: "subtitle", text: `in ${regionName(currentRegion())}` }),
    ),
    h(
      "ol",
      { class: "stepper", "aria-label": "Steps" },
      STEPS.map((label, i) =>
        h("li", { class: i + 1 === state.step ? "current" : i + 1 < state.step ? "done" : "", "aria-current": i + 1 === state.step ? "step" : null, text: label }),
      ),
    ),
    h("form", { class: "card", id: "wizard", novalidate: true, onsubmit: (e) => e.preventDefault() }, body, actions()),
  );
  const firstError = page().querySelector(".field.invalid input, .field.invalid select");
  if (firstError) firstError.focus();
}

function field(name, label, control, { hint = null, group = false } = {}) {
  const error = view.errors[name] || "";
  let heading = null;
  if (label && group) heading = h("span", { class: "label", id: `label-${name}`, text: label });
  else if (label) heading = h("label", { for: `field-${name}`, text: label });
  return h(
    "div",
    { class: ["field", error && "invalid"], "data-field": name, role: group ? "group" : null, "aria-labelledby": group && label ? `label-${name}` : null },
    heading,
    control,
    hint,
    h("p", { class: "field-error", id: `error-${name}`, role: "alert", text: error }),
  );
}

function basicStep() {
  const rule = h("div", { class: "rule", id: "name-rule" });
  let input = null;
  // An invalid name is marked as an error as you type (red border, aria-invalid, the rule in the
  // error colour); it does not block, and the API's own refusal still shows at Confirm.
  const updateRule = () => {
    const ok = NAME_RULE.test(state.name);
    const broken = Boolean(state.name) && !ok;
    rule.className = `rule ${state.name ? (ok ? "ok" : "bad") : ""}`;
    if (input) {
      input.setAttribute("aria-invalid", String(broken || Boolean(view.errors.name)));
      input.closest(".field")?.classList.toggle("mismatch", broken);
    }
    render(
      rule,
      h("span", { class: "mark", text: state.name ? (ok ? "✓" : "✗") : "•" }),
      h("span", {
        text: "6–36 characters: lowercase letters, digits, hyphens (-) and underscores (_), starting with a lowercase letter. Unique within your account; hyphens become underscores in the table name.",
      }),
    );
  };
  const name = h("input", {
    id: "field-name",
    name: "name",
    value: state.name,
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    placeholder: "e.g. audit-to-maxcompute",
    "aria-describedby": "name-rule error-name",
    oninput: (e) => {
      set("name", e.target.value);
      updateRule();
    },
  });
  input = name;
  const nameField = field("name", "Trail Name", name, { hint: rule });
  updateRule();
  return h(
    "fieldset",
    {},
    h("legend", { class: "section-title", text: "Basic Information" }),
    nameField,
    field(
      "eventRW",
      "Trail Event Type",
      h(
        "div",
        { class: "choices-inline", role: "radiogroup" },
        Object.entries(EVENT_TYPES).map(([value, label]) =>
          h(
            "label",
            { class: "choice choice-card" },
            h("input", { type: "radio", name: "eventRW", value, checked: state.eventRW === value, onchange: () => set("eventRW", value) }),
            h("span", {}, h("strong", { text: label }), h("br"), h("span", { class: "small muted", text: eventTypeHint(value) })),
          ),
        ),
      ),
      { group: true },
    ),
    field(
      "trailRegion",
      "Regions recorded",
      h(
        "div",
        { class: "choices-inline" },
        [
          ["All", "All regions", "Events of every region this installation serves."],
          [currentRegion(), `Only ${regionName(currentRegion())}`, "Events of the trail's home region."],
        ].map(([value, label, hint]) =>
          h(
            "label",
            { class: "choice choice-card" },
            h("input", { type: "radio", name: "trailRegion", value, checked: state.trailRegion === value, onchange: () => set("trailRegion", value) }),
            h("span", {}, h("strong", { text: label }), h("br"), h("span", { class: "small muted", text: hint })),
          ),
        ),
      ),
      { group: true },
    ),
  );
}

function eventTypeHint(value) {
  return { All: "Every management event (recommended).", Write: "Only calls that change something.", Read: "Only calls that read." }[value];
}

function deliveryStep() {
  return h(
    "fieldset",
    {},
    h("legend", { class: "section-title", text: "Management Event Delivery Settings" }),
    field(
      "deliverMc",
      null,
      h(
        "label",
        { class: "choice" },
        h("input", { type: "checkbox", id: "field-deliverMc", name: "deliverMc", checked: state.deliverMc, onchange: (e) => set("deliverMc", e.target.checked, { rerender: true }) }),
        h("span", {}, h("strong", { text: "Delivery to MaxCompute" }), h("br"), h("span", { class: "small muted", text: "Events are stored in JSON format, one table per trail, for SQL analysis beyond the 90 days of event history." })),
      ),
      { hint: h("p", { class: "hint", text: "Delivery to OSS and Log Service is not offered: trailhouse delivers to its MaxCompute-style warehouse." }) },
    ),
    state.deliverMc ? destinationSection() : null,
  );
}

function destinationSection() {
  return [
    h("h3", { class: "section-title", text: "Destination Account" }),
    h(
      "div",
      { class: "choices-inline field", role: "radiogroup", "aria-label": "Destination Account" },
      [
        ["current", "Delivery to Current Account", `Into actiontrail_${identity.account}, created on first delivery.`],
        ["another", "Delivery to Another Account", "Into a project another account prepared, through a RAM role there."],
      ].map(([value, label, hint]) =>
        h(
          "label",
          { class: "choice choice-card" },
          h("input", { type: "radio", name: "destination", value, checked: state.destination === value, onchange: () => set("destination", value, { rerender: true }) }),
          h("span", {}, h("strong", { text: label }), h("br"), h("span", { class: "small muted", text: hint })),
        ),
      ),
    ),
    state.destination === "current" ? currentAccount() : anotherAccount(),
  ];
}

function currentAccount() {
  const region = state.mcRegion;
  const project = view.projects[region];
  const quotas = quotasIn(region);
  const regionSelect = h(
    "select",
    {
      id: "field-mcRegion",
      name: "mcRegion",
      value: region,
      onchange: async (e) => {
        set("mcRegion", e.target.value);
        set("quota", "");
        await loadProject(e.target.value);
        draw();
      },
    },
    regionIds().map((id) => h("option", { value: id, text: regionName(id) })),
  );
  const parts = [
    field("mcRegion", "MaxCompute Region", regionSelect, {
      hint: h("p", { class: "hint" }, "Events are delivered to the project ", h("code", { text: projectName(identity.account) }), ` in ${region}. If it already exists, events go to that project.`),
    }),
  ];
  if (view.quotaError) {
    parts.push(field("quota", "Project Quota", errorBox(view.quotaError), { group: true }));
  } else if (project) {
    parts.push(
      field(
        "quota",
        "Project Quota",
        h("select", { id: "field-quota", name: "quota", disabled: true }, h("option", { text: project.Quota })),
        { hint: h("p", { class: "hint", text: `The project ${project.Name} already exists in ${region}, bound to the quota ${project.Quota}; events are delivered to it.` }) },
      ),
    );
  } else if (!quotas.length) {
    parts.push(field("quota", "Project Quota", noQuota(region), { group: true }));
  } else {
    if (!quotas.some((q) => q.Name === state.quota)) state.quota = quotas[0].Name;
    parts.push(
      field(
        "quota",
        "Project Quota",
        h(
          "select",
          { id: "field-quota", name: "quota", value: state.quota, onchange: (e) => set("quota", e.target.value) },
          quotas.map((q) => h("option", { value: q.Name, text: quotaLabel(q) })),
        ),
        { hint: h("p", { class: "hint", text: "The project is created with this quota on its first delivery; its SQL jobs run (and are billed) under it." }) },
      ),
    );
  }
  return parts;
}

function quotaLabel(quota) {
  return quota.Type === "pay-as-you-go"
    ? `${quota.Name} (pay per query, ${quota.Threads} threads, ${quota.MemoryGb} GB)`
    : `${quota.Name} (subscription, ${quota.Cu} CU)`;
}

function noQuota(region) {
  const elsewhere = [...new Set((view.quotas || []).map((q) => q.Region))];
  return h(
    "div",
    { class: "callout warn", id: "no-quota" },
    h("h3", { text: `No MaxCompute quota in ${regionName(region)}` }),
    h("p", { text: "No project can be created in this region. Choose a region that has a quota:" }),
    elsewhere.length
      ? h(
          "div",
          { class: "row" },
          elsewhere.map((id) =>
            h(
              "button",
              {
                type: "button",
                class: "small",
                "data-region": id,
                onclick: async () => {
                  set("mcRegion", id);
                  set("quota", "");
                  await loadProject(id);
                  draw();
                },
              },
              regionName(id),
            ),
          ),
        )
      : h("p", { class: "small", text: "No region has one yet. Buy one with trailhouse quota create --name team --cu 8." }),
  );
}

function anotherAccount() {
  const policy = trustPolicy();
  const policyText = JSON.stringify(policy);
  return [
    field(
      "projectArn",
      "Project ARN",
      h("input", {
        id: "field-projectArn",
        name: "projectArn",
        value: state.projectArn,
        spellcheck: "false",
        autocapitalize: "off",
        placeholder: "acs:odps:cn-hangzhou:<account id>:project/actiontrail_<account id>",
        oninput: (e) => set("projectArn", e.target.value.trim()),
      }),
      { hint: h("p", { class: "hint", text: "The ARN of the destination MaxCompute project; it must exist already and be named actiontrail_…" }) },
    ),
    field(
      "roleArn",
      "RAM Role ARN of MaxCompute",
      h("input", {
        id: "field-roleArn",
        name: "roleArn",
        value: state.roleArn,
        spellcheck: "false",
        autocapitalize: "off",
        placeholder: "acs:ram::<account id>:role/<role name>",
        oninput: (e) => {
          set("roleArn", e.target.value.trim());
          document.getElementById("roles-link")?.setAttribute("href", roleLink());
        },
      }),
      { hint: h("p", { class: "hint", text: "A role of the destination account that trusts this account and carries AliyunActionTrailDeliveryPolicy." }) },
    ),
    h(
      "div",
      { class: "callout", id: "trust-policy" },
      h("h3", { text: "Prepare the role in the destination account" }),
      h("p", {}, "Give the role this trust policy, so that ActionTrail may deliver for account ", h("code", { text: identity.account }), ":"),
      h("pre", { class: "policy", id: "trust-policy-text", text: policyText }),
      h(
        "div",
        { class: "row" },
        copyButton(
          "Copy trust policy",
          policyText,
          "Trust policy copied.",
          "Select the policy text and copy it.",
        ),
      ),
      h(
        "p",
        { class: "small" },
        "Then attach the system policy ",
        h("code", { text: "AliyunActionTrailDeliveryPolicy" }),
        " to the role. With trailhouse's command line, in the destination account: ",
        h("code", { text: `trailhouse role create --role-name <name> --trusted-account ${identity.account}` }),
        " and ",
        h("code", { text: "trailhouse role attach-policy --role-name <name> --policy-name AliyunActionTrailDeliveryPolicy" }),
        ".",
      ),
      h(
        "p",
        { class: "small" },
        "Or in this console, signed in with a key of the destination account: its ",
        h("a", { id: "roles-link", href: roleLink(), text: "Roles page" }),
        " creates the role with this trust policy and the delivery policy, or adds this account to an existing role's trust policy.",
      ),
    ),
  ];
}

// The Roles page, opened at the role the RAM Role ARN names (when it names one), asked to check
// that it trusts this account's ActionTrail.
function roleLink() {
  const match = /^acs:ram::\d*:role\/([^/]+)$/.exec(state.roleArn || "");
  const trust = `trust=${encodeURIComponent(identity.account)}`;
  return match ? `/console/roles/${encodeURIComponent(match[1])}?${trust}` : `/console/roles?${trust}`;
}

function trustPolicy() {
  return {
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Principal: { Service: [`${identity.account}@actiontrail.aliyuncs.com`] },
      },
    ],
  };
}

function target() {
  if (!state.deliverMc) return null;
  if (state.destination === "current") {
    const project = projectName(identity.account);
    return { project, region: state.mcRegion, arn: `acs:odps:${state.mcRegion}:${identity.account}:project/${project}` };
  }
  const match = /^acs:odps:([^:]*):([^:]*):project\/(.+)$/.exec(state.projectArn);
  return { project: match ? match[3] : "(from the Project ARN)", region: match ? match[1] : "", arn: state.projectArn };
}

function confirmStep() {
  const where = target();
  const rows = [
    ["Trail name", state.name || "(empty)"],
    ["Trail event type", EVENT_TYPES[state.eventRW]],
    ["Regions recorded", state.trailRegion === "All" ? "All regions" : regionName(state.trailRegion)],
    ["Home region", regionName(currentRegion())],
    ["Delivery", state.deliverMc ? "MaxCompute" : "none"],
  ];
  if (where) {
    rows.push(
      ["Destination account", state.destination === "current" ? `Current account (${identity.account})` : "Another account"],
      ["MaxCompute project", `${where.project}${where.region ? ` (${where.region})` : ""}`],
      ["Table", NAME_RULE.test(state.name) ? tableName(state.name) : "(shown once the trail name is valid)"],
    );
    if (state.destination === "current") {
      const project = view.projects[state.mcRegion];
      rows.push(["Project quota", project ? `${project.Quota} (existing project)` : state.quota || "the region's first quota"]);
    } else {
      rows.push(["RAM role", state.roleArn || "(none)"]);
    }
  }
  return h(
    "div",
    {},
    h("div", { class: "section-title", text: "Confirm" }),
    h("dl", { class: "kv", id: "summary" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, breakable(v))])),
    h(
      "label",
      { class: "choice start-logging" },
      h("input", { type: "checkbox", name: "startLogging", checked: state.startLogging, onchange: (e) => set("startLogging", e.target.checked) }),
      h("span", { text: "Start logging as soon as the trail is created" }),
    ),
    view.errors.form ? h("div", { id: "error-form" }, errorBox(view.errors.form)) : null,
  );
}

function actions() {
  const back = state.step > 1
    ? h("button", { type: "button", id: "previous", onclick: () => go(state.step - 1) }, "Previous")
    : h("a", { class: "button", href: "/console/trails" }, "Cancel");
  const forward =
    state.step < 3
      ? h("button", { type: "button", class: "primary", id: "next", onclick: next }, "Next")
      : h("button", { type: "button", class: "primary", id: "confirm", disabled: view.busy, onclick: confirmCreate }, view.busy ? "Creating…" : "Confirm");
  return h("div", { class: "wizard-actions" }, back, h("span", { class: "spacer" }), forward);
}

function go(step) {
  state.step = step;
  kept.save();
  draw();
}

// Only what cannot reach the API is checked here; the API judges every value at Confirm.
function next() {
  if (state.step === 1 && !state.name.trim()) {
    view.errors.name = "Enter a trail name.";
    return draw();
  }
  if (state.step === 2 && state.deliverMc && state.destination === "another") {
    if (!state.projectArn) view.errors.projectArn = "Enter the Project ARN of the destination project.";
    if (!state.roleArn) view.errors.roleArn = "Enter the ARN of the role that delivers into it.";
    if (view.errors.projectArn || view.errors.roleArn) return draw();
  }
  if (state.step === 2 && state.deliverMc && state.destination === "current" && !view.projects[state.mcRegion] && !quotasIn(state.mcRegion).length && !view.quotaError) {
    view.errors.quota = `There is no quota in ${state.mcRegion}: choose a region that has one.`;
    return draw();
  }
  go(state.step + 1);
}

// ---- confirm -------------------------------------------------------------------------------------

function fieldFor(error) {
  const message = error.message || "";
  const projectField = state.destination === "current" ? "mcRegion" : "projectArn";
  switch (error.code) {
    case "InvalidTrailNameException":
    case "TrailAlreadyExistsException":
      return "name";
    case "NoAvailableQuota":
      return "quota";
    case "EntityNotExist.Role":
    case "InsufficientMaxComputePolicyException":
      return "roleArn";
    case "InvalidRegionException":
      return /MaxComputeProjectArn/.test(message) ? projectField : "trailRegion";
    case "MissingParameter":
      return /\bName\b/.test(message) ? "name" : "form";
    case "InvalidParameter":
      if (/MaxComputeWriteRoleArn/.test(message)) return "roleArn";
      if (/MaxComputeProjectArn|MaxCompute project/.test(message)) return projectField;
      if (/EventRW/.test(message)) return "eventRW";
      if (/TrailRegion/.test(message)) return "trailRegion";
      if (/destination/.test(message)) return "deliverMc";
      return "form";
    default:
      return "form";
  }
}

function showError(error) {
  const name = fieldFor(error);
  view.errors = { [name]: name === "form" ? error : error.message };
  state.step = FIELD_STEP[name];
  kept.save();
  draw();
}

async function confirmCreate() {
  view.busy = true;
  view.errors = {};
  draw();
  const where = target();
  try {
    if (where && state.destination === "current" && !view.projects[state.mcRegion] && state.quota) {
      const first = quotasIn(state.mcRegion)[0];
      if (first && first.Name !== state.quota) {
        await call("CreateProject", { RegionId: state.mcRegion, Project: where.project, QuotaName: state.quota });
      }
    }
    const params = { Name: state.name, EventRW: state.eventRW, TrailRegion: state.trailRegion };
    if (where) params.MaxComputeProjectArn = where.arn;
    if (where && state.destination === "another") params.MaxComputeWriteRoleArn = state.roleArn;
    await call("CreateTrail", params);
  } catch (failure) {
    view.busy = false;
    return showError(failure);
  }
  let startError = null;
  if (state.startLogging) {
    try {
      await call("StartLogging", { Name: state.name });
    } catch (failure) {
      startError = failure;
    }
  }
  view.created = { name: state.name, where, logging: state.startLogging && !startError, startError };
  view.busy = false;
  kept.forget();
  draw();
}

function drawDone() {
  const { name, where, logging, startError } = view.created;
  const table = tableName(name);
  const sqlLink = where ? `/console/sql?project=${encodeURIComponent(where.project)}&table=${encodeURIComponent(table)}` : null;
  render(
    page(),
    h("div", { class: "breadcrumb" }, h("a", { href: "/console/trails", text: "Trails" }), " / Create Trail"),
    h("div", { class: "page-head" }, h("h1", { text: "Create Trail" })),
    h(
      "div",
      { class: "card", id: "created" },
      h(
        "div",
        { class: "callout ok" },
        h("h3", { text: `Trail ${name} was created` }),
        h("p", { text: logging ? "It is logging: new events are delivered within seconds." : "It is not logging yet: start it from its page to deliver events." }),
      ),
      startError ? errorBox(startError, { title: "The trail could not start logging" }) : null,
      where
        ? [
            h("p", { text: "Events are stored in JSON format in:" }),
            h(
              "dl",
              { class: "destination" },
              h("dt", { text: "Project" }),
              h("dd", { id: "created-project" }, breakable(where.project)),
              h("dt", { text: "Table" }),
              h("dd", { id: "created-table" }, breakable(table)),
              where.region ? [h("dt", { text: "Region" }), h("dd", { text: where.region })] : null,
            ),
          ]
        : null,
      h(
        "div",
        { class: "wizard-actions" },
        h("a", { class: "button primary", href: `/console/trails/${encodeURIComponent(name)}` }, "View trail"),
        sqlLink ? h("a", { class: "button", href: sqlLink }, "Query in the SQL workbench") : null,
        h("span", { class: "spacer" }),
        h("a", { class: "button", href: "/console/trails/new", onclick: () => kept.forget() }, "Create another trail"),
      ),
    ),
  );
}

async function start() {
  await Promise.all([loadQuotas(), loadProject(state.mcRegion)]);
  draw();
  complete();
}

start();
