/** Collections panel: every visible collection with description, extent and item count. */

import { type App, emit } from "../app";
import type { StacCollection } from "../api/stac";
import { fitBbox } from "../map/mapview";
import { day, h, panel } from "../ui/dom";

// "dtm" leads for point clouds: the tiler's own default for a COPC collection.
const PREFERRED = ["default", "true-color", "truecolor", "natural-color", "visual", "dtm"];

export const collectionLayerId = (id: string) => `collection:${id}`;

function extentText(c: StacCollection): { space: string; time: string } {
  const bbox = c.extent?.spatial?.bbox?.[0];
  const interval = c.extent?.temporal?.interval?.[0] ?? [];
  const space = bbox ? bbox.map((v) => Number(v).toFixed(2)).join(", ") : "unknown";
  const time = `${day(interval[0]) || "…"} – ${day(interval[1]) || "now"}`;
  return { space, time };
}

/** The mosaic layer of a collection, drawn with its render preset. */
export function showCollection(app: App, c: StacCollection, render?: string): void {
  app.layers.add({
    id: collectionLayerId(c.id),
    title: c.title ?? c.id,
    kind: "collection",
    tiles: [app.tiles.collectionTiles(c.id, render)],
    wmts: app.tiles.collectionWmts(c.id),
    bounds: c.extent?.spatial?.bbox?.[0],
    visible: true,
    opacity: 1,
    collection: c.id,
    linkLayers: [collectionLayerId(c.id)],
  });
}

function collectionItem(app: App, c: StacCollection): HTMLLIElement {
  const { space, time } = extentText(c);
  // The tiler's own default first (it draws that one when no render is named).
  const rank = (r: string) => (PREFERRED.includes(r) ? PREFERRED.indexOf(r) : PREFERRED.length);
  const renders = Object.keys(c.renders ?? {}).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const count = h("span", { class: "count" }, "counting…");
  const layerId = collectionLayerId(c.id);
  const render = renders.length > 1
    ? h("select", { "aria-label": `Render preset for ${c.title ?? c.id}` }, ...renders.map((r) => h("option", { value: r }, c.renders?.[r]?.title ?? r)))
    : null;
  const toggle = h("button", {
    type: "button",
    "aria-pressed": String(app.layers.has(layerId)),
    disabled: renders.length === 0,
    title: renders.length ? "Show this collection as a mosaic layer" : "This collection has no render preset",
    onclick: () => {
      if (app.layers.has(layerId)) app.layers.remove(layerId);
      else showCollection(app, c, render?.value);
      app.viewChanged();
    },
  }, renders.length ? "Show on map" : "No render preset");
  app.layers.subscribe(() => {
    const shown = app.layers.has(layerId);
    toggle.setAttribute("aria-pressed", String(shown));
    if (renders.length) toggle.textContent = shown ? "Hide from map" : "Show on map";
  });
  render?.addEventListener("change", () => {
    if (app.layers.has(layerId)) showCollection(app, c, render.value);
  });
  app.stac.itemCount(c.id).then(
    ({ count: n, capped }) => (count.textContent = `${capped ? "more than " : ""}${n.toLocaleString()} item${n === 1 ? "" : "s"}`),
    () => (count.textContent = "item count unavailable"),
  );
  const description = c.description ?? "";
  return h("li", { class: "collection", "data-testid": "collection-item", "data-collection-id": c.id },
    h("h3", {}, c.title ?? c.id, " ", count),
    c.title ? h("code", { class: "muted" }, c.id) : null,
    description.length > 90
      ? h("details", { class: "description" }, h("summary", {}, description.slice(0, 80).trimEnd() + "…"), h("p", {}, description))
      : h("p", { class: "description" }, description),
    h("dl", { class: "extent" }, h("dt", {}, "Extent"), h("dd", {}, space), h("dt", {}, "Time"), h("dd", {}, time)),
    h("div", { class: "buttons" },
      toggle,
      render,
      h("button", { type: "button", onclick: () => c.extent?.spatial?.bbox?.[0] && fitBbox(app.map, c.extent.spatial.bbox[0], 12) }, "Zoom to"),
      h("button", { type: "button", onclick: () => emit(app, "searchCollection", c.id) }, "Search it"),
    ),
  );
}

export function collectionsPanel(app: App, mount: HTMLElement): void {
  const { root, body } = panel("collections-panel", "Collections");
  const list = h("ul", { class: "collections", "aria-busy": "true" });
  body.append(list);
  mount.append(root);
  app.on.collectionsLoaded.push((collections) => {
    list.removeAttribute("aria-busy");
    list.replaceChildren(
      ...(collections.length ? collections.map((c) => collectionItem(app, c)) : [h("li", {}, "No collections yet.")]),
    );
  });
}
