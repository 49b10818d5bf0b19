// RAM roles: the account's roles (ListRoles), and one role's page (GetRole) with its trust
// policy, edited in place (UpdateRole with NewAssumeRolePolicyDocument), its attached policies
// (AttachPolicyToRole, DetachPolicyFromRole) and Delete (DeleteRole), each dangerous step after a
// confirmation. RAM's refusals (DeleteConflict.Role.Policy, MalformedPolicyDocument, …) are
// shown as the API gives them. Opened from the Create Trail wizard with `?trust=<account id>`
// (the account whose trail will deliver), a role that does not trust that account yet offers to
// add it, and a role that does not exist offers to create it with that trust.
import { call } from "../api.js";
import { identity } from "../shell.js";
import { breakable, complete, confirm, copyButton, errorBox, h, page, plural, render, table, toast, when } from "../ui.js";

const DELIVERY_POLICY = "AliyunActionTrailDeliveryPolicy";
const ROLE = document.body.dataset.role || "";
const QUERY = new URLSearchParams(location.search);
// The account whose ActionTrail should be trusted (from the wizard), when it looks like one.
const TRUST = /^\d{1,32}$/.test(QUERY.get("trust") || "") ? QUERY.get("trust") : "";

// The trust policy that lets the ActionTrail of `accounts` assume a role (the wizard's).
export function actionTrailTrust(accounts) {
  return {
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Principal: { Service: accounts.map((account) => `${account}@actiontrail.aliyuncs.com`) },
      },
    ],
  };
}

// `document_` with `account` added to its first Allow statement's ActionTrail principals.
function withTrusted(document_, account) {
  let policy;
  try {
    policy = JSON.parse(document_);
  } catch {
    return JSON.stringify(actionTrailTrust([account]), null, 2);
  }
  const statement = (policy.Statement || []).find((s) => s.Effect === "Allow" && s.Action === "sts:AssumeRole");
  if (!statement) return JSON.stringify(actionTrailTrust([account]), null, 2);
  statement.Principal = statement.Principal || {};
  const services = statement.Principal.Service;
  const list = Array.isArray(services) ? services : services ? [services] : [];
  list.push(`${account}@actiontrail.aliyuncs.com`);
  statement.Principal.Service = list;
  return JSON.stringify(policy, null, 2);
}

// The accounts whose ActionTrail a trust policy lets assume the role ("<id>@actiontrail.aliyuncs.com").
export function trustedActionTrailAccounts(document_) {
  let policy;
  try {
    policy = JSON.parse(document_ || "{}");
  } catch {
    return [];
  }
  const accounts = [];
  for (const statement of Array.isArray(policy.Statement) ? policy.Statement : []) {
    if (statement.Effect !== "Allow") continue;
    const services = statement.Principal?.Service;
    for (const service of Array.isArray(services) ? services : services ? [services] : []) {
      const match = /^(\d+)@actiontrail\.aliyuncs\.com$/.exec(String(service));
      if (match) accounts.push(match[1]);
    }
  }
  return accounts;
}

function pretty(document_) {
  try {
    return JSON.stringify(JSON.parse(document_), null, 2);
  } catch {
    return document_ || "";
  }
}

function head(title, subtitle) {
  return h("div", { class: "page-head" }, h("h1", {}, breakable(title)), subtitle ? h("span", { class: "subtitle", text: subtitle }) : null);
}

// ---- the list --------------------------------------------------------------------------------

async function list() {
  render(page(), head("RAM roles", `the roles of account ${identity.account}`), h("p", { class: "muted", text: "Loading roles…" }));
  let roles;
  try {
    roles = (await call("ListRoles", {}, { region: false })).Roles.Role;
  } catch (failure) {
    render(page(), head("RAM roles"), errorBox(failure, { hint: "RAM roles are managed with the account's root key." }));
    complete();
    return;
  }
  render(
    page(),
    head("RAM roles", `the roles of account ${identity.account}`),
    h(
      "section",
      { class: "card", id: "roles" },
      h("h2", { text: plural(roles.length, "role") }),
      table(
        [
          { label: "Role", cell: (r) => h("a", { href: `/console/roles/${encodeURIComponent(r.RoleName)}`, "data-role": r.RoleName }, breakable(r.RoleName)) },
          { label: "ARN", class: "hide-phone", cell: (r) => breakable(r.Arn, { class: "breakable mono small" }) },
          {
            label: "ActionTrail may deliver for",
            cell: (r) => {
              const accounts = trustedActionTrailAccounts(r.AssumeRolePolicyDocument);
              return accounts.length ? accounts.join(", ") : h("span", { class: "muted", text: "no account" });
            },
          },
          { label: "Policies", cell: (r) => (r.AttachedPolicies.length ? r.AttachedPolicies.join(", ") : h("span", { class: "muted", text: "none" })) },
          { label: "Created", class: "hide-phone", cell: (r) => when(r.CreateDate) },
        ],
        roles,
        { empty: "No roles yet. Create one with trailhouse role create --role-name <name> --trusted-account <account id>." },
      ),
      h(
        "p",
        { class: "small muted" },
        "A trail that delivers into another account's project writes through a role of that account: the role must trust ",
        h("code", { text: "<source account>@actiontrail.aliyuncs.com" }),
        " and carry ",
        h("code", { text: DELIVERY_POLICY }),
        ".",
      ),
    ),
    createCard(QUERY.get("create") || "", TRUST),
  );
  complete();
}

// A form that creates a delivery role: CreateRole with ActionTrail's trust for the accounts
// named, then (ticked by default) AttachPolicyToRole with the delivery policy.
function createCard(name, trusted) {
  const problem = h("div", { id: "create-error", role: "alert" });
  const form = h(
    "form",
    {
      class: "card",
      id: "create-role",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const roleName = form.elements.roleName.value.trim();
        const accounts = form.elements.accounts.value.split(/[\s,]+/).filter(Boolean);
        render(problem);
        try {
          await call("CreateRole", { RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(actionTrailTrust(accounts)), Description: "ActionTrail delivery" }, { region: false });
          if (form.elements.attach.checked) {
            await call("AttachPolicyToRole", { RoleName: roleName, PolicyType: "System", PolicyName: DELIVERY_POLICY }, { region: false });
          }
        } catch (failure) {
          render(problem, errorBox(failure, { title: "The role was not created as asked" }));
          return;
        }
        location.assign(`/console/roles/${encodeURIComponent(roleName)}`);
      },
    },
    h("h2", { text: "Create a delivery role" }),
    h(
      "div",
      { class: "field" },
      h("label", { for: "role-name", text: "Role name" }),
      h("input", { id: "role-name", name: "roleName", value: name, spellcheck: "false", autocapitalize: "off", placeholder: "e.g. actiontrail-delivery" }),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "trusted-accounts", text: "Accounts whose ActionTrail may deliver through it" }),
      h("input", { id: "trusted-accounts", name: "accounts", value: trusted, spellcheck: "false", inputmode: "numeric", placeholder: "account ids, separated by commas" }),
    ),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "attach", checked: true }), ` Attach ${DELIVERY_POLICY}`),
    problem,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "create-role-submit" }, "Create role")),
  );
  return form;
}

// ---- one role --------------------------------------------------------------------------------

let role = null;

async function show() {
  try {
    role = (await call("GetRole", { RoleName: ROLE }, { region: false })).Role;
  } catch (failure) {
    const missing = failure.code === "EntityNotExist.Role";
    render(
      page(),
      breadcrumb(),
      head(ROLE),
      errorBox(failure, { hint: missing ? "Create it below, or pick another role on the Roles page." : "RAM roles are managed with the account's root key." }),
      missing ? createCard(ROLE, TRUST) : null,
    );
    complete();
    return;
  }
  drawRole();
  complete();
}

function breadcrumb() {
  return h("div", { class: "breadcrumb" }, h("a", { href: "/console/roles", text: "RAM roles" }), " / ", breakable(ROLE));
}

function drawRole() {
  render(
    page(),
    breadcrumb(),
    head(role.RoleName, role.Description || null),
    h(
      "section",
      { class: "card" },
      h(
        "dl",
        { class: "kv", id: "role-facts" },
        h("dt", { text: "ARN" }),
        h("dd", {}, breakable(role.Arn, { class: "breakable mono", id: "role-arn" }), " ", copyButton("Copy", role.Arn, "ARN copied.", "Select the ARN and copy it.")),
        h("dt", { text: "Role ID" }),
        h("dd", {}, breakable(role.RoleId)),
        h("dt", { text: "Created" }),
        h("dd", { text: when(role.CreateDate) }),
      ),
    ),
    trustCard(),
    policiesCard(),
    deleteCard(),
  );
}

function trustCard() {
  const accounts = trustedActionTrailAccounts(role.AssumeRolePolicyDocument);
  const editor = h("textarea", {
    id: "trust-policy",
    class: "mono",
    rows: 12,
    spellcheck: "false",
    "aria-label": "Trust policy",
    wrap: "off",
    "aria-describedby": "trust-error",
    value: pretty(role.AssumeRolePolicyDocument),
  });
  const problem = h("div", { id: "trust-error", role: "alert" });
  const save = h(
    "button",
    {
      type: "submit",
      class: "primary",
      id: "save-trust",
      onclick: async (e) => {
        e.preventDefault();
        save.disabled = true;
        render(problem);
        editor.removeAttribute("aria-invalid");
        try {
          role = (await call("UpdateRole", { RoleName: role.RoleName, NewAssumeRolePolicyDocument: editor.value }, { region: false })).Role;
          toast(`The trust policy of ${role.RoleName} was saved.`);
          drawRole();
        } catch (failure) {
          save.disabled = false;
          editor.setAttribute("aria-invalid", "true");
          render(problem, errorBox(failure));
        }
      },
    },
    "Save trust policy",
  );
  return h(
    "form",
    { class: "card", id: "trust-card" },
    h("h2", { text: "Trust policy" }),
    h(
      "p",
      { class: "small", id: "trust-summary" },
      accounts.length
        ? `ActionTrail of ${accounts.length === 1 ? "account" : "accounts"} ${accounts.join(", ")} may assume this role to deliver.`
        : "No account's ActionTrail may assume this role: trails that name it are refused until the trust policy lists <account id>@actiontrail.aliyuncs.com.",
    ),
    TRUST && !accounts.includes(TRUST)
      ? h(
          "div",
          { class: "callout warn", id: "trust-missing" },
          h("p", { text: `This role does not trust the ActionTrail of account ${TRUST} yet, so its trail cannot deliver through it.` }),
          h(
            "button",
            {
              type: "button",
              id: "add-trusted",
              onclick: () => {
                editor.value = withTrusted(editor.value, TRUST);
                editor.focus();
              },
            },
            `Add account ${TRUST} to the trust policy`,
          ),
          h("span", { class: "small muted", text: " then save it." }),
        )
      : null,
    editor,
    problem,
    h("div", { class: "row" }, save, h("span", { class: "small muted", text: "Saved with UpdateRole (NewAssumeRolePolicyDocument). Deliveries through this role check it at their next session." })),
  );
}

function policiesCard() {
  const attached = role.AttachedPolicies;
  const problem = h("div", { id: "policy-error", role: "alert" });
  const change = async (action, policy, done) => {
    try {
      await call(action, { RoleName: role.RoleName, PolicyType: "System", PolicyName: policy }, { region: false });
      role = (await call("GetRole", { RoleName: role.RoleName }, { region: false })).Role;
      toast(done);
      drawRole();
    } catch (failure) {
      render(problem, errorBox(failure));
    }
  };
  return h(
    "section",
    { class: "card", id: "policies-card" },
    h("h2", { text: "Attached policies" }),
    attached.length
      ? h(
          "ul",
          { class: "plain", id: "policies" },
          attached.map((policy) =>
            h(
              "li",
              { class: "row", "data-policy": policy },
              h("code", { text: policy }),
              h("span", { class: "spacer" }),
              h(
                "button",
                {
                  type: "button",
                  class: "small danger",
                  "data-action": "detach",
                  onclick: async () => {
                    const ok = await confirm({
                      title: `Detach ${policy} from ${role.RoleName}?`,
                      message:
                        policy === DELIVERY_POLICY
                          ? "Trails that deliver through this role stop delivering at their next session, until the policy is attached again. No event is lost meanwhile."
                          : "The role loses what this policy allows.",
                      confirmLabel: "Detach",
                      danger: true,
                    });
                    if (ok) await change("DetachPolicyFromRole", policy, `${policy} was detached.`);
                  },
                },
                "Detach",
              ),
            ),
          ),
        )
      : h("p", { class: "muted", id: "policies", text: "No policy is attached." }),
    attached.includes(DELIVERY_POLICY)
      ? null
      : h(
          "div",
          { class: "row" },
          h(
            "button",
            { type: "button", id: "attach-delivery", onclick: () => change("AttachPolicyToRole", DELIVERY_POLICY, `${DELIVERY_POLICY} was attached.`) },
            `Attach ${DELIVERY_POLICY}`,
          ),
          h("span", { class: "small muted", text: "the system policy that lets ActionTrail write a trail's events into this account's projects" }),
        ),
    problem,
  );
}

function deleteCard() {
  const problem = h("div", { id: "delete-error", role: "alert" });
  return h(
    "section",
    { class: "card", id: "delete-card" },
    h("h2", { text: "Delete" }),
    h("p", { class: "small", text: "RAM deletes only a role without attached policies: detach them first. Trails that deliver through the role stop delivering." }),
    h(
      "button",
      {
        type: "button",
        class: "danger",
        id: "delete-role",
        onclick: async () => {
          const ok = await confirm({
            title: `Delete role ${role.RoleName}?`,
            message: "The role is removed for good. Trails that name it can no longer deliver.",
            confirmLabel: "Delete role",
            danger: true,
          });
          if (!ok) return;
          try {
            await call("DeleteRole", { RoleName: role.RoleName }, { region: false });
          } catch (failure) {
            render(problem, errorBox(failure, { title: "The role was not deleted" }));
            return;
          }
          toast(`Role ${role.RoleName} was deleted.`);
          location.assign("/console/roles");
        },
      },
      "Delete role",
    ),
    problem,
  );
}

if (ROLE) show();
else list();
