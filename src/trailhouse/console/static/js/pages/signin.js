// Sign-in: the AccessKey pair opens a session; a refusal shows beside the form and keeps
// what was typed. After an expired session, `next` brings the user back where they were.
import { ApiError, post } from "../api.js";

const form = document.getElementById("signin-form");
const error = document.getElementById("signin-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const answer = await post("/console/signin", {
      AccessKeyId: form.elements.AccessKeyId.value.trim(),
      AccessKeySecret: form.elements.AccessKeySecret.value,
      Next: document.body.dataset.next || "",
    });
    location.assign(answer.Next);
  } catch (failure) {
    if (failure instanceof ApiError && failure.code === "InvalidCsrfToken") {
      error.textContent = "This sign-in form is too old; it was reloaded. Please sign in again.";
      setTimeout(() => location.reload(), 1200);
    } else {
      error.textContent = failure.message;
    }
    button.disabled = false;
    form.elements.AccessKeySecret.focus();
  }
});

document.body.dataset.ready = "1";
form.elements.AccessKeyId.focus();
