/** Sharing a collection layer: make it public or private, create and revoke share links. */

import type { App } from "../app";
import { type Share, type Visibility, accessError } from "../api/admin";
import { expiryHours, shareLinkUrl, withCredential } from "../auth/credentials";
import type { MapLayer } from "../map/layers";
import { copyText, h } from "../ui/dom";

/** What the share control of one layer shows; kept across re-renders of the layers list. */
export interface ShareState {
  open: boolean;
  days: string;
  visibility?: Visibility;
  share?: Share;
  message?: string;
  error?: string;
  busy?: boolean;
  checked?: boolean; // visibility asked for once
}

function copyRow(label: string, value: string, testid?: string): HTMLElement {
  const input = h("input", { type: "text", readonly: true, value, "aria-label": label, "data-testid": testid });
  const copy = h("button", { type: "button", "aria-label": `Copy ${label}` }, "Copy");
  copy.addEventListener("click", () => void copyText(value, copy));
  return h("div", { class: "url-row" }, h("span", { class: "label" }, label.split(" ")[0]), input, copy);
}

/** The share control of a layer that shows a collection (``render`` redraws the layers list). */
export function shareControl(app: App, layer: MapLayer & { collection: string }, state: ShareState, render: () => void): HTMLElement {
  const collection = layer.collection;
  const run = async (doing: string, fn: () => Promise<void>) => {
    state.busy = true;
    state.error = undefined;
    state.message = undefined;
    render();
    try {
      await fn();
    } catch (e) {
      state.error = accessError(e, doing);
    } finally {
      state.busy = false;
      render();
    }
  };
  const setVisibility = (v: Visibility) =>
    run(`make ${collection} ${v}`, async () => {
      state.visibility = await app.admin.setVisibility(collection, v);
      state.message = v === "public" ? "Anyone can now see this collection." : "Only you and those you share it with can see it now.";
    });

  const days = h("input", { type: "number", min: 0.01, step: "any", value: state.days, "aria-label": "Share link expiry in days", "data-testid": "share-days" });
  days.addEventListener("input", () => (state.days = days.value));
  const create = () => {
    const hours = expiryHours(days.value);
    if (hours === null) {
      state.error = "The expiry must be a positive number of days.";
      return render();
    }
    return run("create a share link", async () => {
      state.share = await app.admin.createShare(collection, hours);
      state.message = `Share link valid until ${new Date(state.share.expires_at).toLocaleString()}.`;
    });
  };
  const revoke = () =>
    run("revoke the share link", async () => {
      await app.admin.revokeShare(state.share!.id);
      state.share = undefined;
      state.message = "Share link revoked: it no longer opens anything.";
    });

  const share = state.share;
  const token = share ? { kind: "token" as const, value: share.token } : null;
  const root = h("details", { class: "share", "data-testid": "layer-share", "data-collection-id": collection, open: state.open },
    h("summary", {}, "Share"),
    h("p", { class: "muted" }, "Collection ", h("code", {}, collection),
      state.visibility ? h("span", { "data-testid": "share-visibility" }, ` is ${state.visibility}.`) : "."),
    h("div", { class: "buttons" },
      h("button", { type: "button", disabled: state.busy || state.visibility === "public", "data-testid": "share-make-public", onclick: () => void setVisibility("public") }, "Make public"),
      h("button", { type: "button", disabled: state.busy || state.visibility === "private", "data-testid": "share-make-private", onclick: () => void setVisibility("private") }, "Make private"),
    ),
    h("div", { class: "share-create" },
      h("label", { class: "field" }, h("span", { class: "label" }, "Expires in (days)"), days),
      h("button", { type: "button", disabled: state.busy, "data-testid": "share-create", onclick: () => void create() }, share ? "Create another link" : "Create share link"),
    ),
    share && token
      ? h("div", { class: "share-link" },
          copyRow("Web map link", shareLinkUrl(location.href, share.token, layer.linkLayers ?? [], app.view()), "share-link-url"),
          ...layer.tiles.slice(0, 1).map((t) => copyRow("XYZ template (with token)", withCredential(t, token), "share-xyz-url")),
          layer.wmts ? copyRow("WMTS capabilities (with token)", withCredential(layer.wmts, token), "share-wmts-url") : null,
          h("button", { type: "button", class: "danger", disabled: state.busy, "data-testid": "share-revoke", onclick: () => void revoke() }, "Revoke link"),
        )
      : null,
    h("p", { class: "notice", role: "status", hidden: !state.message }, state.message ?? ""),
    h("p", { class: "error", role: "alert" }, state.error ?? ""),
  );
  root.addEventListener("toggle", () => {
    state.open = root.open;
    // Its visibility, read once when it is first opened.
    if (root.open && !state.checked) {
      state.checked = true;
      app.admin.visibility(collection).then(
        (v) => {
          state.visibility = v;
          render();
        },
        (e) => {
          state.error = accessError(e, "read who can see this collection");
          render();
        },
      );
    }
  });
  return root;
}
