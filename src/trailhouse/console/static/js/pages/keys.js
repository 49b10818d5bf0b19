// Access keys: the signed-in principal's keys (or, by name, a RAM user's of the account), from
// ListAccessKeys; disable, enable (UpdateAccessKey) and delete (DeleteAccessKey), each after a
// confirmation. A key disabled or deleted here is refused at once, console sessions included:
// disabling or deleting the key you signed in with ends this session.
import { call, sessionEnded } from "../api.js";
import { identity } from "../shell.js";
import { complete, confirm, errorBox, h, page, render, table, toast, when } from "../ui.js";

const form = h(
  "form",
  { class: "card row", id: "key-owner", onsubmit: (e) => { e.preventDefault(); load(); } },
  h("label", { for: "user-name", class: "nowrap", text: "RAM user" }),
  h("input", { id: "user-name", name: "user", placeholder: "empty: your own keys", spellcheck: "false", autocapitalize: "off" }),
  h("button", { type: "submit", class: "primary" }, "Show keys"),
);
const output = h("div", { id: "keys" });

function owner() {
  const user = form.elements.user.value.trim();
  return user ? { UserName: user } : {};
}

function ownerLabel(params) {
  if (params.UserName) return `RAM user ${params.UserName}`;
  return identity.isRoot ? `the root of account ${identity.account}` : `you (RAM user ${identity.user})`;
}

async function load() {
  const params = owner();
  render(output, h("p", { class: "muted", text: "Loading keys…" }));
  let keys;
  try {
    keys = (await call("ListAccessKeys", params, { region: false })).AccessKeys.AccessKey;
  } catch (failure) {
    render(output, errorBox(failure));
    complete();
    return;
  }
  render(
    output,
    h(
      "section",
      { class: "card" },
      h("h2", { text: `Keys of ${ownerLabel(params)}` }),
      table(
        [
          { label: "AccessKey ID", class: "mono", cell: (k) => k.AccessKeyId },
          {
            label: "Status",
            cell: (k) => h("span", { class: ["badge", k.Status === "Active" ? "ok" : "warn"], "data-status": k.Status, text: k.Status }),
          },
          { label: "Created", cell: (k) => when(k.CreateDate) },
          { label: "", cell: (k) => actions(k, params) },
        ],
        keys,
        { empty: "No access keys." },
      ),
      h("p", { class: "small muted", text: "A disabled key is refused at once, by every server process; enable it to use it again. A deleted key is gone for good. Secrets are shown only when a key is created (trailhouse key-admin create)." }),
    ),
  );
  complete();
}

function actions(key, params) {
  const active = key.Status === "Active";
  return h(
    "div",
    { class: "row" },
    h(
      "button",
      { type: "button", class: "small", "data-action": active ? "disable" : "enable", "data-key": key.AccessKeyId, onclick: () => change(key, params, active ? "Inactive" : "Active") },
      active ? "Disable" : "Enable",
    ),
    h(
      "button",
      { type: "button", class: "small danger", "data-action": "delete", "data-key": key.AccessKeyId, onclick: () => remove(key, params) },
      "Delete",
    ),
  );
}

const signingKey = () => document.querySelector(".identity .who")?.getAttribute("title");

function ownKeyWarning(key) {
  return key.AccessKeyId === signingKey() ? " This is the key you signed in with: this session ends with it." : "";
}

async function change(key, params, status) {
  if (status === "Inactive") {
    const ok = await confirm({
      title: `Disable ${key.AccessKeyId}?`,
      message: `Requests signed with it are refused from now on, until it is enabled again.${ownKeyWarning(key)}`,
      confirmLabel: "Disable",
      danger: true,
    });
    if (!ok) return;
  }
  await run("UpdateAccessKey", { ...params, UserAccessKeyId: key.AccessKeyId, Status: status }, key, `${key.AccessKeyId} is now ${status}`);
}

async function remove(key, params) {
  const ok = await confirm({
    title: `Delete ${key.AccessKeyId}?`,
    message: `The key is deleted for good; requests signed with it are refused from now on.${ownKeyWarning(key)}`,
    confirmLabel: "Delete",
    danger: true,
  });
  if (!ok) return;
  await run("DeleteAccessKey", { ...params, UserAccessKeyId: key.AccessKeyId }, key, `Deleted ${key.AccessKeyId}`);
}

async function run(action, params, key, done) {
  try {
    await call(action, params, { region: false });
  } catch (failure) {
    if (failure.code !== "SessionExpired") toast(`${failure.code}: ${failure.message}`, { bad: true });
    return;
  }
  if (key.AccessKeyId === signingKey() && (action === "DeleteAccessKey" || params.Status === "Inactive")) {
    sessionEnded();
    return;
  }
  toast(done);
  load();
}

render(
  page(),
  h("div", { class: "page-head" }, h("h1", { text: "Access keys" }), h("span", { class: "subtitle", text: `account ${identity.account}` })),
  form,
  output,
);
load();
