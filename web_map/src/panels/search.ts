/** Search panel: area (map extent or a drawn rectangle), dates, max cloud, free text; paging. */

import type { App } from "../app";
import { type SearchQuery, hasCloudCover, nextLink, normalizeBbox } from "../api/stac";
import { Pager } from "../state/paging";
import { field, h, panel } from "../ui/dom";
import { ResultsList } from "./results";

export interface SearchForm {
  from: string;
  to: string;
  collection: string;
  q: string;
}

export class SearchPanel {
  private pager = new Pager();
  private results: ResultsList;
  private collection = h("select", { id: "search-collection" }, h("option", { value: "" }, "All collections"));
  private areaExtent = h("input", { type: "radio", name: "area", value: "extent", checked: true });
  private areaDrawn = h("input", { type: "radio", name: "area", value: "drawn", disabled: true });
  private from = h("input", { type: "date", "data-testid": "search-date-from", id: "search-date-from" });
  private to = h("input", { type: "date", "data-testid": "search-date-to", id: "search-date-to" });
  private maxCloud = h("input", { type: "number", min: 0, max: 100, step: 1, placeholder: "any", "data-testid": "search-max-cloud", id: "search-max-cloud" });
  private cloudField: HTMLElement;
  private q = h("input", { type: "search", placeholder: "words in titles, descriptions, keywords", id: "search-q" });
  private summary = h("p", { class: "summary", role: "status", "aria-live": "polite" });
  private prevButton = h("button", { type: "button", disabled: true }, "‹ Previous");
  private nextButton = h("button", { type: "button", disabled: true }, "Next ›");
  private nextUrl: string | null = null;
  private cloudCache = new Map<string, boolean>();

  constructor(private app: App, mount: HTMLElement) {
    const { root, body } = panel("search-panel", "Search");
    this.results = new ResultsList(app);
    this.cloudField = field("Max cloud cover (%)", this.maxCloud);
    const drawButton = h("button", { type: "button", onclick: () => this.drawRectangle() }, "Draw rectangle");
    const form = h("form", { class: "search-form", "aria-label": "Search the catalog" },
      field("Collection", this.collection),
      h("fieldset", { class: "area" },
        h("legend", {}, "Area"),
        h("label", {}, this.areaExtent, " Map extent"),
        h("label", {}, this.areaDrawn, " Drawn rectangle"),
        drawButton,
      ),
      h("div", { class: "row" }, field("From", this.from), field("To", this.to)),
      this.cloudField,
      field("Free text", this.q),
      h("button", { type: "submit", class: "primary", "data-testid": "search-button" }, "Search"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.search();
    });
    this.collection.addEventListener("change", () => void this.updateCloudField());
    for (const el of [this.from, this.to, this.q, this.collection]) el.addEventListener("change", () => app.viewChanged());
    this.prevButton.addEventListener("click", () => {
      const url = this.pager.prev();
      if (url) void this.load(url);
    });
    this.nextButton.addEventListener("click", () => {
      if (this.nextUrl) void this.load(this.pager.next(this.nextUrl));
    });
    body.append(form, this.summary, this.results.root, h("nav", { class: "pager", "aria-label": "Result pages" }, this.prevButton, this.nextButton));
    mount.append(root);

    app.on.collectionsLoaded.push((cs) => {
      const chosen = this.collection.value;
      this.collection.replaceChildren(
        h("option", { value: "" }, "All collections"),
        ...cs.map((c) => h("option", { value: c.id }, c.title ?? c.id)),
      );
      this.collection.value = chosen;
      void this.updateCloudField();
    });
    app.on.searchCollection.push((id) => {
      this.collection.value = id;
      void this.updateCloudField();
      this.collection.focus();
      app.viewChanged();
    });
  }

  /** The form's values that live in the URL. */
  get state(): SearchForm {
    return { from: this.from.value, to: this.to.value, collection: this.collection.value, q: this.q.value.trim() };
  }

  /** The max cloud text, when the field applies ("" otherwise). */
  get maxCloudText(): string {
    return this.cloudField.hidden ? "" : this.maxCloud.value.trim();
  }

  restore(s: Partial<SearchForm>): void {
    if (s.from) this.from.value = s.from;
    if (s.to) this.to.value = s.to;
    if (s.q) this.q.value = s.q;
    if (s.collection) {
      if (![...this.collection.options].some((o) => o.value === s.collection)) {
        this.collection.append(h("option", { value: s.collection }, s.collection));
      }
      this.collection.value = s.collection;
    }
  }

  /** Max cloud is offered when the chosen collection's items carry eo:cloud_cover. */
  private async updateCloudField(): Promise<void> {
    const id = this.collection.value;
    if (!id) {
      this.cloudField.hidden = false; // applied to the items that have it
      return;
    }
    if (!this.cloudCache.has(id)) {
      const queryables = await this.app.stac.queryables(id).catch(() => []);
      this.cloudCache.set(id, hasCloudCover(this.app.collections.get(id), queryables));
    }
    this.cloudField.hidden = !this.cloudCache.get(id);
  }

  private async drawRectangle(): Promise<void> {
    this.app.status("Drag on the map to draw the search area (Escape cancels).");
    const bbox = await this.app.draw.draw();
    if (bbox) {
      this.areaDrawn.disabled = false;
      this.areaDrawn.checked = true;
      this.app.status("Search area drawn.");
    } else this.app.status("Drawing cancelled.");
  }

  private query(): SearchQuery {
    const b = this.app.map.getBounds();
    const drawn = this.areaDrawn.checked ? this.app.draw.current : null;
    const cloudText = this.maxCloud.value.trim();
    const collection = this.collection.value;
    return {
      bbox: normalizeBbox(drawn ?? [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]),
      from: this.from.value || undefined,
      to: this.to.value || undefined,
      collections: collection ? [collection] : undefined,
      maxCloud: !this.cloudField.hidden && cloudText !== "" ? Number(cloudText) : null,
      cloudKeepsUnknown: !collection,
      q: this.q.value.trim() || undefined,
      limit: 20,
    };
  }

  async search(): Promise<void> {
    this.app.viewChanged();
    await this.load(this.pager.start(this.app.stac.searchUrl(this.query())));
  }

  private async load(url: string): Promise<void> {
    this.summary.textContent = "Searching…";
    this.results.root.setAttribute("aria-busy", "true");
    try {
      const page = await this.app.stac.page(url);
      this.nextUrl = nextLink(page);
      this.results.show(page.features);
      const n = page.features.length;
      const total = page.numberMatched ?? page.context?.matched;
      this.summary.textContent = n
        ? `Page ${this.pager.page}: ${n} item${n === 1 ? "" : "s"}${total !== undefined ? ` of ${total}` : ""}${this.nextUrl ? ", more on the next page" : ""}.`
        : "No items match. Try a larger area or other dates.";
    } catch (e) {
      this.nextUrl = null;
      this.results.show([]);
      this.summary.textContent = `Search failed: ${(e as Error).message}`;
    } finally {
      this.results.root.removeAttribute("aria-busy");
      this.prevButton.disabled = !this.pager.hasPrev;
      this.nextButton.disabled = !this.nextUrl;
    }
  }
}
