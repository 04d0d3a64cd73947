/** Preview: an item's tiles on the map (its collection's render preset), metadata and assets. */

import type { App } from "../app";
import type { StacItem } from "../api/stac";
import { itemTileParams } from "../api/tiles";
import type { MapLayer } from "../map/layers";
import { copcAsset } from "../pointcloud/asset";
import { fitBbox } from "../map/mapview";
import { itemKey } from "../state/selection";
import { day, h, panel } from "../ui/dom";
import { toSelected } from "./results";

export const PREVIEW_LAYER = "preview";
export const itemLayerId = (collection: string, id: string) => `item:${itemKey(collection, id)}`;

function valueText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") {
    const s = JSON.stringify(v);
    return s.length > 160 ? s.slice(0, 157) + "…" : s;
  }
  return String(v);
}

/**
 * The layer of an item (the preview is replaced by the next one; an item layer is kept), or
 * the reason the tiler cannot draw it.
 */
export function itemLayer(app: App, item: StacItem, id = itemLayerId(item.collection, item.id)): MapLayer | string {
  const hasRenders = Object.keys(app.collections.get(item.collection)?.renders ?? {}).length > 0;
  const how = itemTileParams(item, hasRenders);
  if ("reason" in how) return `No tiles for ${item.id}: ${how.reason}.`;
  return {
    id,
    title: id === PREVIEW_LAYER ? `Preview: ${item.id}` : item.id,
    kind: id === PREVIEW_LAYER ? "preview" : "item",
    tiles: [app.tiles.itemTiles(item.collection, item.id, how.params)],
    wmts: app.tiles.itemWmts(item.collection, item.id),
    bounds: item.bbox,
    visible: true,
    opacity: 1,
  };
}

/** The 3D view of a COPC asset over the map (three.js and copc.js load on first use). */
function open3d(app: App, title: string, url: string): void {
  import("../pointcloud/view")
    .then(({ openPointCloud }) => openPointCloud(document.querySelector<HTMLElement>(".map-wrap")!, { url, title }))
    .catch((e: Error) => app.status(`The 3D view could not be opened: ${e.message}`, "error"));
}

export class PreviewPanel {
  private root: HTMLDetailsElement;
  private body: HTMLDivElement;

  constructor(private app: App, mount: HTMLElement) {
    const { root, body } = panel("preview-panel", "Preview");
    this.root = root;
    this.body = body;
    body.append(h("p", { class: "muted" }, "Click a result (or its footprint) to preview it."));
    mount.append(root);
  }

  show(item: StacItem): void {
    const app = this.app;
    const layer = itemLayer(app, item, PREVIEW_LAYER);
    if (typeof layer === "string") app.layers.remove(PREVIEW_LAYER);
    else app.layers.add(layer);
    if (item.bbox) fitBbox(app.map, item.bbox);
    const selected = app.selection.has(item.collection, item.id);
    const props = Object.entries(item.properties).sort(([a], [b]) => a.localeCompare(b));
    const assets = Object.entries(item.assets ?? {});
    const copc = copcAsset(item);
    this.body.replaceChildren(
      h("h3", { class: "item-id" }, item.id),
      h("p", {}, h("span", { class: "muted" }, item.collection), " · ", day(item.properties.datetime)),
      typeof layer === "string" ? h("p", { class: "notice", role: "status" }, layer) : "",
      h("div", { class: "buttons" },
        h("button", {
          type: "button",
          disabled: typeof layer === "string",
          onclick: () => {
            const kept = itemLayer(app, item);
            if (typeof kept === "string") return;
            app.layers.add(kept);
            app.layers.remove(PREVIEW_LAYER);
            app.viewChanged();
          },
        }, "Keep as layer"),
        h("button", {
          type: "button",
          onclick: (e: Event) => {
            const now = app.selection.toggle(toSelected(item));
            (e.target as HTMLButtonElement).textContent = now ? "Remove from selection" : "Add to selection";
          },
        }, selected ? "Remove from selection" : "Add to selection"),
        h("button", { type: "button", onclick: () => this.close() }, "Close preview"),
        copc ? h("button", { type: "button", "data-testid": "open-3d", onclick: () => open3d(app, item.id, copc[1]) }, "Open 3D") : "",
      ),
      h("h4", {}, "Assets"),
      h("ul", { class: "assets" },
        ...assets.map(([key, a]) =>
          h("li", {}, h("a", { href: a.href, target: "_blank", rel: "noopener" }, key), " ", h("span", { class: "muted" }, [a.title, a.type?.split(";")[0]].filter(Boolean).join(" · "))),
        ),
      ),
      h("h4", {}, "Metadata"),
      h("table", { class: "metadata" },
        h("tbody", {}, ...props.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, valueText(v))))),
      ),
    );
    this.root.open = true;
  }

  close(): void {
    this.app.layers.remove(PREVIEW_LAYER);
    this.body.replaceChildren(h("p", { class: "muted" }, "Click a result (or its footprint) to preview it."));
  }
}
