/** The results list: one entry per item (thumbnail, date, cloud, id), linked to its footprint. */

import type { App } from "../app";
import { type StacItem, selfLink, thumbnailOf } from "../api/stac";
import { itemKey } from "../state/selection";
import { day, h } from "../ui/dom";

export function toSelected(item: StacItem) {
  return {
    id: item.id,
    collection: item.collection,
    href: selfLink(item) ?? "",
    datetime: item.properties.datetime ?? null,
    bbox: item.bbox,
  };
}

export class ResultsList {
  readonly root = h("ul", { class: "results", "aria-label": "Search results" });
  private entries = new Map<string, HTMLLIElement>();
  private items = new Map<string, StacItem>();

  constructor(private app: App) {
    app.footprints.onHover((uid) => this.highlight(uid, true));
    app.footprints.onClick((uid) => {
      const item = this.items.get(uid);
      if (item) {
        app.preview(item);
        this.entries.get(uid)?.focus();
      }
    });
    app.selection.subscribe(() => this.syncChecks());
  }

  show(items: StacItem[]): void {
    this.entries.clear();
    this.items = new Map(items.map((i) => [itemKey(i.collection, i.id), i]));
    this.root.replaceChildren(...items.map((i) => this.entry(i)));
    this.app.footprints.setItems(items, (uid) => {
      const [c, ...rest] = uid.split("/");
      return this.app.selection.has(c, rest.join("/"));
    });
  }

  private entry(item: StacItem): HTMLLIElement {
    const uid = itemKey(item.collection, item.id);
    const cloud = item.properties["eo:cloud_cover"];
    const thumb = thumbnailOf(item);
    const check = h("input", {
      type: "checkbox",
      "data-testid": "result-select",
      "aria-label": `Select ${item.id}`,
      checked: this.app.selection.has(item.collection, item.id),
    });
    check.addEventListener("change", () => {
      this.app.selection.toggle(toSelected(item), check.checked);
    });
    const img = thumb
      ? h("img", { src: thumb, alt: "", loading: "lazy", width: 56, height: 56 })
      : h("div", { class: "thumb-placeholder", "aria-hidden": "true" });
    if (img instanceof HTMLImageElement) img.addEventListener("error", () => img.replaceWith(h("div", { class: "thumb-placeholder", "aria-hidden": "true" })));
    const li = h("li", {
      class: "result",
      tabindex: 0,
      "data-testid": "result-item",
      "data-item-id": item.id,
      "data-collection": item.collection,
      "aria-label": `${item.id}, ${day(item.properties.datetime)}; press Enter to preview`,
    },
      h("label", { class: "select" }, check),
      img,
      h("div", { class: "meta" },
        h("span", { class: "id", title: item.id }, item.id),
        h("span", { class: "muted" }, item.collection),
        h("span", {}, day(item.properties.datetime), typeof cloud === "number" ? ` · ☁ ${cloud.toFixed(1)} %` : ""),
      ),
    );
    li.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).closest("label.select")) return;
      this.app.preview(item);
    });
    li.addEventListener("keydown", (e) => {
      if (e.target === li && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        this.app.preview(item);
      }
    });
    const on = () => this.highlight(uid, false);
    const off = () => this.highlight(null, false);
    li.addEventListener("mouseenter", on);
    li.addEventListener("focus", on);
    li.addEventListener("mouseleave", off);
    li.addEventListener("blur", off);
    this.entries.set(uid, li);
    return li;
  }

  /** Highlight one entry and its footprint; from the map, scroll the entry into view. */
  private highlight(uid: string | null, fromMap: boolean): void {
    for (const [k, li] of this.entries) li.classList.toggle("hover", k === uid);
    if (!fromMap) this.app.footprints.highlight(uid);
    if (fromMap && uid) this.entries.get(uid)?.scrollIntoView({ block: "nearest" });
  }

  private syncChecks(): void {
    for (const [uid, li] of this.entries) {
      const item = this.items.get(uid)!;
      const selected = this.app.selection.has(item.collection, item.id);
      const box = li.querySelector<HTMLInputElement>("input[type=checkbox]");
      if (box) box.checked = selected;
      this.app.footprints.setSelected(uid, selected);
    }
  }
}
