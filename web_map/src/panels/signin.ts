/** Sign in: paste an API key (kept in this browser until sign-out); who you are, from /admin/whoami. */

import type { App } from "../app";
import { HttpError } from "../api/http";
import type { WhoAmI } from "../api/admin";
import { h } from "../ui/dom";

function describe(who: WhoAmI, signedIn: boolean): string {
  if (!who.auth_enabled) return "Access control is off: everything is open.";
  if (who.share) return "Viewing through a share link (read-only).";
  if (who.anonymous) return signedIn ? "Your key was not accepted." : "Not signed in: public collections only.";
  return `Signed in as ${who.principal}${who.role ? ` (${who.role})` : ""}.`;
}

export function signInControl(app: App, mount: HTMLElement): void {
  const key = h("input", {
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "API key (swk_…)",
    "aria-label": "API key",
    "data-testid": "signin-key",
  });
  const signIn = h("button", { type: "submit", "data-testid": "signin-button" }, "Sign in");
  const signOut = h("button", { type: "button", "data-testid": "signout-button", hidden: true }, "Sign out");
  const status = h("span", { class: "signin-status", role: "status", "aria-live": "polite", "data-testid": "signin-status" }, "…");
  const form = h("form", { class: "signin", "aria-label": "Sign in" }, key, signIn, signOut, status);

  const showSignedIn = (on: boolean) => {
    key.hidden = on;
    signIn.hidden = on;
    signOut.hidden = !on;
  };
  const refresh = async () => {
    showSignedIn(app.credentials.signedIn);
    try {
      const who = await app.admin.whoami();
      status.textContent = describe(who, app.credentials.signedIn);
      form.dataset.principal = who.anonymous ? "" : who.principal;
      form.dataset.role = who.role ?? "";
    } catch (e) {
      // A stored key that was revoked or expired: say so, and offer to sign in again.
      if (e instanceof HttpError && e.status === 401) {
        status.textContent = app.credentials.signedIn
          ? "Your saved key is no longer valid: sign out and sign in again."
          : "This share link is no longer valid (expired or revoked).";
      } else if (e instanceof HttpError && e.notAvailable) {
        status.textContent = "Access control is not available on this server.";
      } else {
        status.textContent = `Could not check who you are: ${(e as Error).message}`;
      }
      form.dataset.principal = "";
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = key.value.trim();
    if (!value) {
      status.textContent = "Paste an API key first.";
      key.focus();
      return;
    }
    signIn.disabled = true;
    status.textContent = "Checking the key…";
    try {
      const who = await app.admin.whoami(value);
      if (who.anonymous && who.auth_enabled) throw new HttpError(401, "not accepted");
      key.value = "";
      app.credentials.signIn(value); // listeners refresh the status, collections and layers
    } catch (err) {
      status.textContent =
        err instanceof HttpError && err.status === 401
          ? "That key was not accepted (unknown, expired or revoked)."
          : `Could not sign in: ${(err as Error).message}`;
      key.select();
    } finally {
      signIn.disabled = false;
    }
  });
  signOut.addEventListener("click", () => app.credentials.signOut());
  app.credentials.subscribe(() => void refresh());
  mount.append(form);
  void refresh();
}
