// What every signed-in page shares: the region selector (top left), sign-out, and the
// identity the page was rendered for.
import { chooseRegion, currentRegion, post } from "./api.js";
import { forgetAll } from "./forms.js";

export const identity = {
  account: document.body.dataset.account,
  kind: document.body.dataset.kind,
  user: document.body.dataset.user,
  isRoot: document.body.dataset.kind === "root-account",
};

export function regionName(regionId) {
  const option = [...(document.getElementById("region")?.options || [])].find((o) => o.value === regionId);
  return option ? option.textContent : regionId;
}

export function regionIds() {
  return JSON.parse(document.getElementById("region")?.dataset.regions || "[]");
}

const picker = document.getElementById("region");
if (picker) {
  picker.value = currentRegion();
  picker.addEventListener("change", () => {
    chooseRegion(picker.value);
    location.reload();
  });
}

document.getElementById("signout")?.addEventListener("click", async () => {
  try {
    await post("/console/signout", {});
  } finally {
    forgetAll();
    location.assign("/console/signin");
  }
});
