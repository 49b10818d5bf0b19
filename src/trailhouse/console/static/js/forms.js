// What a user typed survives a page reload and an expired session: forms marked data-keep are
// copied to sessionStorage as they change and restored when the page comes back. Passwords and
// secrets are never kept.
const PREFIX = "th.keep.";

export function keepState(key, initial) {
  const stored = sessionStorage.getItem(PREFIX + key);
  let state = { ...initial };
  if (stored) {
    try {
      state = { ...initial, ...JSON.parse(stored) };
    } catch {
      sessionStorage.removeItem(PREFIX + key);
    }
  }
  const save = () => sessionStorage.setItem(PREFIX + key, JSON.stringify(state));
  return { state, save, forget: () => sessionStorage.removeItem(PREFIX + key) };
}

const kept = new Map();

// Bind a <form>'s named fields to sessionStorage.
export function keepForm(form, key) {
  const stored = sessionStorage.getItem(PREFIX + key);
  if (stored) {
    try {
      restore(form, JSON.parse(stored));
    } catch {
      sessionStorage.removeItem(PREFIX + key);
    }
  }
  const save = () => sessionStorage.setItem(PREFIX + key, JSON.stringify(snapshot(form)));
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  kept.set(key, save);
  return save;
}

export function registerKeeper(key, save) {
  kept.set(key, save);
}

export function saveKeptForms() {
  for (const save of kept.values()) save();
}

export function forgetAll() {
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(PREFIX)) sessionStorage.removeItem(key);
  }
}

function snapshot(form) {
  const values = {};
  for (const field of form.elements) {
    if (!field.name || field.type === "password" || field.type === "file") continue;
    if (field.type === "checkbox") values[field.name] = field.checked;
    else if (field.type === "radio") {
      if (field.checked) values[field.name] = field.value;
    } else values[field.name] = field.value;
  }
  return values;
}

function restore(form, values) {
  for (const field of form.elements) {
    if (!field.name || !(field.name in values) || field.type === "password") continue;
    const value = values[field.name];
    if (field.type === "checkbox") field.checked = Boolean(value);
    else if (field.type === "radio") field.checked = field.value === value;
    else field.value = value;
  }
}
