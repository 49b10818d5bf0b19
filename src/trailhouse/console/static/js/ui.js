// Small DOM helpers: elements built with textContent (never innerHTML from data), formatting,
// the error box, a confirmation dialog, downloads.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  // A <select>'s value can only be set once its options exist.
  if (attributes && attributes.value !== undefined && attributes.value !== null) {
    element.value = attributes.value;
  }
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "text") {
      element.textContent = value;
    } else if (name === "class") {
      element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "value" && "value" in element) {
      element.value = value;
    } else if (name === "checked" || name === "selected") {
      element[name] = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function render(container, ...children) {
  container.replaceChildren();
  append(container, children);
  return container;
}

export const page = () => document.getElementById("page");

// Marks the page as showing its data (the end-to-end tests time pages to this moment).
export function ready() {
  if (document.body.dataset.ready) return;
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
}

// Marks the page as having loaded everything, slower parts (charts, jobs) included.
export function complete() {
  ready();
  document.body.dataset.complete = "1";
}

// ---- formatting -----------------------------------------------------------------------------

export function number(value) {
  return Number(value || 0).toLocaleString("en-US");
}

// A plain decimal with at most `significant` significant digits (and never more than 12
// decimals), without exponent or trailing zeros: 1.2e-05 → "0.000012", 0.30000000000000004 → "0.3".
export function decimal(value, significant = 4) {
  const amount = Number(value || 0);
  if (!Number.isFinite(amount)) return String(value);
  if (amount === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(amount)));
  const decimals = Math.min(12, Math.max(0, significant - 1 - magnitude));
  const text = amount.toFixed(decimals);
  const trimmed = text.includes(".") ? text.replace(/\.?0+$/, "") : text;
  if (trimmed === "0" || trimmed === "-0") return amount < 0 ? "> -0.000000000001" : "< 0.000000000001";
  const [whole, fraction] = trimmed.split(".");
  const grouped = Number(whole).toLocaleString("en-US");
  return fraction ? `${whole.startsWith("-") && grouped === "0" ? "-0" : grouped}.${fraction}` : grouped;
}

// "1 partition", "2 partitions", "1,024 rows".
export function plural(count, word, many = `${word}s`) {
  return `${number(count)} ${Number(count) === 1 ? word : many}`;
}

export function bytes(value) {
  let size = Number(value || 0);
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let unit = 0;
  while (Math.abs(size) >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  if (unit === 0) return plural(Math.round(size), "byte");
  return `${size.toFixed(size < 10 ? 2 : size < 100 ? 1 : 0)} ${units[unit]}`;
}

// Money in US dollars: cents from a dollar up, four decimals below, and two significant digits
// for amounts under a cent (a tiny query costs "$0.0000012", never "$1.2e-06").
export function usd(value) {
  const amount = Number(value || 0);
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  if (abs === 0) return "$0.00";
  if (abs < 0.000000001) return `${sign}< $0.000000001`;
  if (abs >= 1) return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  if (abs >= 0.01) return `${sign}$${abs.toFixed(4).replace(/0{1,2}$/, "")}`;
  return `${sign}$${decimal(abs, 2)}`;
}

// Long identifiers (ARNs, event ids, AccessKey ids, paths) as text that may wrap after each
// `/`, `:`, `-`, `_`, `.` or `@`, and nowhere inside a word.
export function breakable(text, attributes = {}) {
  const parts = String(text ?? "").split(/(?<=[/:\-_.@])/);
  const children = [];
  parts.forEach((part, index) => {
    children.push(part);
    if (index < parts.length - 1) children.push(document.createElement("wbr"));
  });
  return h("span", { class: "breakable", ...attributes }, children);
}

export function millis(value) {
  const ms = Number(value || 0);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function when(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace("Z", " UTC");
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

// UTC "YYYY-MM-DDThh:mm:ssZ", the API's time format.
export function apiTime(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// UTC "YYYYMMDD".
export function day(date) {
  return date.toISOString().slice(0, 10).replaceAll("-", "");
}

// ---- errors ---------------------------------------------------------------------------------

const TITLES = {
  NoPermission: "You do not have permission",
  NetworkError: "The server cannot be reached",
  "Throttling.User": "Too many requests",
  TrailNotFoundException: "No such trail",
  NoSuchProject: "No such project",
  "ODPS-0130131": "No such table",
  "ODPS-0130161": "The SQL does not parse",
  "ODPS-0130071": "The SQL cannot run",
  QuotaExceeded: "The quota is busy",
  NoAvailableQuota: "No MaxCompute quota",
  "EntityNotExist.Role": "No such role",
  "EntityAlreadyExists.Role": "A role of that name exists already",
  "DeleteConflict.Role.Policy": "The role still has policies attached",
  MalformedPolicyDocument: "The policy document is not valid",
};

export function errorBox(error, { title, hint } = {}) {
  const code = error.code || "Error";
  const heading = title || TITLES[code] || "Something went wrong";
  const permission = code === "NoPermission";
  return h(
    "div",
    { class: ["callout", permission ? "warn" : "bad"], role: "alert", "data-code": code },
    h("h3", { text: heading }),
    h("p", { text: error.message }),
    permission
      ? h("p", {
          class: "small muted",
          text: "The console shows only what your key may see and do. Ask the account's owner to grant it, or sign in with a key that has it.",
        })
      : null,
    hint ? h("p", { class: "small", text: hint }) : null,
    h("div", { class: "meta", text: `${code}${error.requestId ? ` · request ${error.requestId}` : ""}` }),
  );
}

// ---- dialog, toast, download ----------------------------------------------------------------

export function confirm({ title, message, confirmLabel = "Confirm", danger = false, details = null }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "dialog-title" },
      h(
        "div",
        { class: "dialog-body" },
        h("h2", { id: "dialog-title", text: title }),
        h("p", { text: message }),
        details,
      ),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, "Cancel"),
        h(
          "button",
          {
            type: "button",
            class: danger ? "danger solid" : "primary",
            "data-confirm": "1",
            onclick: () => dialog.close("ok"),
          },
          confirmLabel,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function toast(message, { bad = false } = {}) {
  const element = h("div", { class: ["toast", bad && "bad"], role: "status", text: message });
  document.body.append(element);
  setTimeout(() => element.remove(), 3500);
}

/** A small button that copies `text`, saying so, or asking the user to copy it by hand. */
export function copyButton(label, text, copied, byHand) {
  return h(
    "button",
    {
      type: "button",
      class: "small",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          toast(copied);
        } catch {
          toast(byHand, { bad: true });
        }
      },
    },
    label,
  );
}

export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function table(columns, rows, { empty = "Nothing to show." } = {}) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class || null, text: c.label })))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class || null }, c.cell(row))))),
      ),
    ),
  );
}
