/** Ingest: search a remote source, bring chosen scenes into the catalog, follow the progress. */

import type { App } from "../app";
import { HttpError, getJson } from "../api/http";
import { type IngestRequest, type IngestRun, RUN_FINISHED, runProgress } from "../api/ingest";
import { type ItemCollection, datetimeInterval, normalizeBbox, searchParams } from "../api/stac";
import { day, field, h, panel } from "../ui/dom";

export class IngestPanel {
  private source = h("select", { id: "ingest-source", disabled: true }, h("option", { value: "" }, "loading…"));
  private stacUrl = h("input", { type: "url", id: "ingest-stac-url", placeholder: "https://earth-search.aws.element84.com/v1" });
  private stacField: HTMLElement;
  private collection = h("input", { type: "text", id: "ingest-collection", placeholder: "e.g. sentinel-2-l2a" });
  private limit = h("input", { type: "number", id: "ingest-limit", min: 1, max: 100, value: 5 });
  private found = h("ul", { class: "remote-results" });
  private progress = h("div", { class: "ingest-progress", "aria-live": "polite" });
  private findButton = h("button", { type: "button", disabled: true }, "Find scenes");
  private ingestButton = h("button", { type: "button", class: "primary", disabled: true }, "Ingest");
  private note = h("p", { class: "muted" }, "Uses the map extent and the search panel's dates and max cloud.");

  constructor(private app: App, mount: HTMLElement, private dates: () => { from: string; to: string; maxCloud: string }) {
    const { root, body } = panel("ingest-panel", "Ingest from a remote source", false);
    this.stacField = field("Remote STAC API URL", this.stacUrl);
    this.stacField.hidden = true;
    body.append(
      this.note,
      field("Source", this.source),
      this.stacField,
      field("Collection", this.collection),
      field("At most (scenes)", this.limit),
      h("div", { class: "buttons" }, this.findButton, this.ingestButton),
      this.found,
      this.progress,
    );
    mount.append(root);
    this.source.addEventListener("change", () => this.sourceChanged());
    this.findButton.addEventListener("click", () => void this.find());
    this.ingestButton.addEventListener("click", () => void this.start());
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const sources = await this.app.ingest.sources();
      this.source.replaceChildren(
        ...sources.filter((s) => s !== "urls").map((s) => h("option", { value: s }, s === "stac:<url>" ? "any STAC API (URL)" : s)),
      );
      this.source.disabled = this.ingestButton.disabled = sources.length === 0;
      this.sourceChanged();
    } catch (e) {
      this.source.replaceChildren(h("option", { value: "" }, "not available"));
      this.note.textContent = e instanceof HttpError && e.notAvailable
        ? "Ingest is not available: this server runs no ingest service."
        : `Ingest sources could not be loaded: ${(e as Error).message}`;
    }
  }

  private sourceChanged(): void {
    const stac = this.source.value === "stac:<url>";
    this.stacField.hidden = !stac;
    // The browser can list a STAC API's scenes itself; providers are searched by the server.
    this.findButton.disabled = !stac;
    this.findButton.title = stac ? "" : "Scenes of this provider are found by the server when ingesting";
    this.found.replaceChildren();
  }

  private sourceName(): string {
    return this.source.value === "stac:<url>" ? `stac:${this.stacUrl.value.trim().replace(/\/$/, "")}` : this.source.value;
  }

  private request(): IngestRequest {
    const b = this.app.map.getBounds();
    const { from, to, maxCloud } = this.dates();
    const req: IngestRequest = {
      source: this.sourceName(),
      bbox: normalizeBbox([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]),
      limit: Number(this.limit.value) || 5,
    };
    if (this.collection.value.trim()) req.collection = this.collection.value.trim();
    const dt = datetimeInterval(from || undefined, to || undefined);
    if (dt) req.datetime = dt;
    if (maxCloud !== "") req.max_cloud = Number(maxCloud);
    return req;
  }

  /** List a remote STAC API's scenes here, so the user can pick which to ingest. */
  private async find(): Promise<void> {
    const req = this.request();
    const base = req.source.slice("stac:".length);
    if (!base) {
      this.progress.textContent = "Enter the remote STAC API's URL.";
      return;
    }
    this.progress.textContent = "Searching the remote source…";
    try {
      const params = searchParams({ bbox: req.bbox, from: this.dates().from, to: this.dates().to, collections: req.collection ? [req.collection] : undefined, limit: req.limit });
      params.delete("sortby");
      const doc = await getJson<ItemCollection>(`${base}/search?${params}`);
      this.found.replaceChildren(
        ...doc.features.map((f) =>
          h("li", {}, h("label", {}, h("input", { type: "checkbox", value: f.id, checked: true }), ` ${f.id} `, h("span", { class: "muted" }, day(f.properties.datetime)))),
        ),
      );
      this.progress.textContent = doc.features.length ? `${doc.features.length} remote scene(s) found; uncheck the ones you do not want.` : "No remote scenes found.";
    } catch (e) {
      this.progress.textContent = `Remote search failed: ${(e as Error).message}`;
    }
  }

  private async start(): Promise<void> {
    const req = this.request();
    const ids = [...this.found.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value);
    if (ids.length) req.ids = ids;
    this.ingestButton.disabled = true;
    try {
      const run = await this.app.ingest.start(req);
      this.follow(run);
    } catch (e) {
      this.progress.textContent = `Ingest failed to start: ${(e as Error).message}`;
      this.ingestButton.disabled = false;
    }
  }

  private follow(run: IngestRun): void {
    const bar = h("progress", { max: 100, value: runProgress(run), "aria-label": `Progress of ingest run ${run.id}` });
    const text = h("p", {});
    this.progress.replaceChildren(h("strong", {}, `Run ${run.id}`), bar, text);
    const show = (r: IngestRun) => {
      bar.value = runProgress(r);
      const c = r.counts;
      text.textContent = `${r.status}: ${c.done} done, ${c.failed} failed, ${c.skipped} skipped of ${c.found} found${r.error ? ` — ${r.error}` : ""}`;
    };
    show(run);
    const poll = async () => {
      try {
        const r = await this.app.ingest.run(run.id);
        show(r);
        if (!RUN_FINISHED.has(r.status)) {
          setTimeout(poll, 2000);
          return;
        }
        this.ingestButton.disabled = false;
        this.app.status(`Ingest run ${r.id}: ${r.status}. Search again to see the new scenes.`);
      } catch (e) {
        text.textContent = `Progress unavailable: ${(e as Error).message}`;
        this.ingestButton.disabled = false;
      }
    };
    setTimeout(poll, 1000);
  }
}
