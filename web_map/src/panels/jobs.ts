/** Jobs: status, per-state progress and live logs; a finished job's outputs become a layer. */

import type { App } from "../app";
import { HttpError } from "../api/http";
import type { StacItem } from "../api/stac";
import type { MapLayer } from "../map/layers";
import { fitBbox, unionBbox } from "../map/mapview";
import { FINISHED, type JobView } from "../state/jobs";
import { itemKey } from "../state/selection";
import { h, panel } from "../ui/dom";

const STORE_KEY = "stacworks.jobs";
const POLL_MS = 1500;

interface TrackedJob {
  id: string;
  processId: string;
  title: string;
}

export const jobLayerId = (id: string) => `job:${id}`;

/** The layer of a job's output items: one mosaic (a registered search), else one source per item. */
export async function addJobLayer(app: App, jobId: string, title: string, zoom = true): Promise<MapLayer | null> {
  const items: StacItem[] = await app.jobs.results(jobId);
  if (!items.length) {
    app.status(`Job ${jobId} finished without output items.`);
    return null;
  }
  // The output collection (when the outputs are in one) can be shared; a link shows its items.
  const collections = [...new Set(items.map((i) => i.collection))];
  const base = {
    id: jobLayerId(jobId),
    title: `${title} (job ${jobId})`,
    kind: "job" as const,
    visible: true,
    opacity: 1,
    collection: collections.length === 1 ? collections[0] : undefined,
    linkLayers: items.slice(0, 20).map((i) => `item:${itemKey(i.collection, i.id)}`),
  };
  const bounds = unionBbox(items.map((i) => i.bbox)) ?? undefined;
  let layer: MapLayer;
  if (items.length === 1) {
    const [i] = items;
    layer = { ...base, tiles: [app.tiles.itemTiles(i.collection, i.id)], wmts: app.tiles.itemWmts(i.collection, i.id), bounds };
  } else {
    try {
      const search = await app.tiles.registerItems(items);
      layer = { ...base, tiles: [app.tiles.searchTiles(search)], wmts: app.tiles.searchWmts(search), bounds };
    } catch {
      layer = { ...base, tiles: items.map((i) => app.tiles.itemTiles(i.collection, i.id)), wmts: app.tiles.itemWmts(items[0].collection, items[0].id), bounds };
    }
  }
  app.layers.add(layer);
  if (zoom && bounds) fitBbox(app.map, bounds);
  app.viewChanged();
  return layer;
}

export class JobsPanel {
  private list = h("ul", { class: "jobs" });
  private tracked: TrackedJob[];

  constructor(private app: App, mount: HTMLElement) {
    const { root, body } = panel("jobs-panel", "Jobs");
    body.append(this.list);
    mount.append(root);
    try {
      this.tracked = JSON.parse(localStorage.getItem(STORE_KEY) ?? "[]");
    } catch {
      this.tracked = [];
    }
    this.renderEmpty();
    for (const t of this.tracked) this.follow(t, false);
  }

  private save(): void {
    localStorage.setItem(STORE_KEY, JSON.stringify(this.tracked.slice(-20)));
  }

  private renderEmpty(): void {
    if (!this.tracked.length) this.list.replaceChildren(h("li", { class: "muted empty" }, "No jobs yet."));
    else this.list.querySelector(".empty")?.remove();
  }

  /** Start following a job the user just launched. */
  track(job: JobView, processId: string, title: string): void {
    const t = { id: job.id, processId, title };
    this.tracked.push(t);
    this.save();
    this.renderEmpty();
    this.follow(t, true, job);
  }

  private follow(t: TrackedJob, addLayerWhenDone: boolean, first?: JobView): void {
    const status = h("span", { class: "badge" });
    const bar = h("progress", { max: 100, "aria-label": `Progress of job ${t.id}` });
    const states = h("ul", { class: "states" });
    const logs = h("pre", { class: "logs", tabindex: 0, "aria-label": `Logs of job ${t.id}` });
    const message = h("p", { class: "muted" });
    const actions = h("div", { class: "buttons" });
    const el = h("li", { class: "job", "data-testid": "job-status", "data-job-id": t.id, "data-status": first?.status ?? "accepted" },
      h("div", { class: "job-head" }, h("strong", {}, t.title), " ", h("code", {}, t.id), " ", status),
      bar, message, states,
      h("details", { open: addLayerWhenDone }, h("summary", {}, "Logs"), logs),
      actions,
    );
    this.list.prepend(el);
    const forget = h("button", { type: "button", onclick: () => { this.tracked = this.tracked.filter((x) => x.id !== t.id); this.save(); el.remove(); this.renderEmpty(); } }, "Forget");

    const show = (job: JobView) => {
      el.dataset.status = job.status;
      status.textContent = job.status;
      status.className = `badge ${job.status}`;
      if (job.progress !== null) bar.value = job.progress;
      else if (FINISHED.has(job.status)) bar.value = 100;
      else bar.removeAttribute("value"); // indeterminate
      message.textContent = job.message;
      states.replaceChildren(
        ...job.states.map((s) => {
          const pct = s.progress !== undefined ? `${Math.round(s.progress)} %` : "";
          const counts = s.total !== undefined ? ` (${s.done ?? 0}/${s.total})` : "";
          return h("li", {}, h("span", {}, s.name), " ", h("span", { class: "muted" }, [s.status, pct].filter(Boolean).join(" · ") + counts));
        }),
      );
    };
    if (first) show(first);

    const poll = async () => {
      let job: JobView;
      try {
        job = await this.app.jobs.job(t.id);
      } catch (e) {
        if (e instanceof HttpError && e.status === 404) {
          status.textContent = "unknown";
          message.textContent = "The server no longer knows this job.";
          actions.replaceChildren(forget);
          return;
        }
        message.textContent = `Status unavailable: ${(e as Error).message}`;
        setTimeout(poll, POLL_MS * 2);
        return;
      }
      show(job);
      const lines = await this.app.jobs.logs(t.id).catch(() => null);
      if (lines) {
        const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.textContent = lines.slice(-500).join("\n");
        if (atEnd) logs.scrollTop = logs.scrollHeight;
      }
      if (!FINISHED.has(job.status)) {
        actions.replaceChildren(h("button", { type: "button", onclick: () => this.app.jobs.dismiss(t.id).catch((e) => this.app.status(e.message, "error")) }, "Dismiss"));
        setTimeout(poll, POLL_MS);
        return;
      }
      const showButton = h("button", { type: "button", onclick: () => void addJobLayer(this.app, t.id, t.title).catch((e) => this.app.status(`Results: ${e.message}`, "error")) }, "Show result layer");
      actions.replaceChildren(...(job.status === "successful" ? [showButton] : []), forget);
      if (job.status === "successful" && addLayerWhenDone && !this.app.layers.has(jobLayerId(t.id))) {
        try {
          await addJobLayer(this.app, t.id, t.title);
          this.app.status(`${t.title}: done, result layer added.`);
        } catch (e) {
          this.app.status(`${t.title}: results could not be read (${(e as Error).message})`, "error");
        }
      } else if (job.status === "failed") {
        this.app.status(`${t.title}: failed. See its logs.`, "error");
      }
    };
    void poll();
  }
}
