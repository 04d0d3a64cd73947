/**
 * Triggers: subscribe to the current map search (its area, collection and cloud limit), so new
 * scenes are ingested and processed as they arrive; list, pause/resume and delete triggers, and
 * see each one's firings with the jobs they started (``/triggers`` of the jobs service).
 */

import type { App } from "../app";
import { HttpError, getJson, postJson, request } from "../api/http";
import { normalizeBbox } from "../api/stac";
import { field, h, panel } from "../ui/dom";

export interface SearchSnapshot {
  collection: string;
  maxCloud: string;
}

export interface SubscriptionOptions {
  source: string;
  workflow: string;
  per: "batch" | "item";
  everyMinutes: number;
  windowDays: number;
}

export interface Trigger {
  id: string;
  kind: "schedule" | "subscription" | "watch";
  paused: boolean;
  cron?: string;
  collection?: string;
  workflow_id?: string | null;
  source?: string;
}

export interface Firing {
  id: number;
  status: string;
  slot: string | null;
  fired_at: string;
  detail: string | null;
  execution_ids: string[];
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  secret?: string;
}

export interface BudgetStatus {
  workflow_id: string;
  month: string;
  spent_usd: number;
  soft_usd: number | null;
  hard_usd: number | null;
}

/** "$0.12 of $5.00 this month (2026-12)", or what there is of it. */
export function describeBudget(b: BudgetStatus): string {
  const limit = b.hard_usd ?? b.soft_usd;
  const spent = `$${b.spent_usd.toFixed(2)}`;
  if (limit === null) return `${spent} spent in ${b.month}, no budget set`;
  const kind = b.hard_usd !== null ? "hard limit" : "soft limit";
  return `${spent} of $${limit.toFixed(2)} (${kind}) in ${b.month}`;
}

/** A cron expression polling every ``minutes`` (a divisor of an hour, whole hours, or days). */
export function cronEvery(minutes: number): string {
  if (minutes < 60) return `*/${Math.max(1, Math.round(minutes))} * * * *`;
  if (minutes < 1440) return `0 */${Math.round(minutes / 60)} * * *`;
  return "0 6 * * *";
}

/** The rectangle as a GeoJSON polygon (the AOI the server intersects exactly). */
export function bboxPolygon(bbox: number[]): { type: "Polygon"; coordinates: number[][][] } {
  const [w, s, e, n] = bbox.map((v) => Math.round(v * 1e7) / 1e7); // no float noise from wrapping
  return { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

/** The subscription document for the search on screen: the drawn area (else the map extent),
 *  its collection, a cloud filter from the max-cloud field, a window ending now. */
export function subscriptionFromSearch(search: SearchSnapshot, area: number[], opts: SubscriptionOptions): Record<string, unknown> {
  if (!search.collection) throw new Error("Choose a collection in the search panel first.");
  const doc: Record<string, unknown> = {
    source: opts.source,
    collection: search.collection,
    cron: cronEvery(opts.everyMinutes),
    per: opts.per,
    search: {
      intersects: bboxPolygon(normalizeBbox(area)),
      window: `P${opts.windowDays}D`,
      ...(search.maxCloud !== "" && Number.isFinite(Number(search.maxCloud))
        ? { filter: `eo:cloud_cover < ${Number(search.maxCloud)}` }
        : {}),
    },
  };
  if (opts.workflow) doc.workflow_id = opts.workflow;
  return doc;
}

/** One line saying what a trigger does. */
export function describeTrigger(t: Trigger): string {
  const what = t.workflow_id ? `runs ${t.workflow_id}` : "ingests";
  if (t.kind === "watch") return `each new item in ${t.collection} ${what}`;
  if (t.kind === "subscription") return `${t.collection} from ${t.source} (${t.cron}) ${what}`;
  return `${t.workflow_id} at ${t.cron}`;
}

const enc = encodeURIComponent;

export class TriggersPanel {
  private base = new URL("triggers", document.baseURI).href;
  private list = h("ul", { class: "triggers" });
  private source = h("select", { id: "trigger-source" }, h("option", { value: "catalog" }, "this catalog"), h("option", { value: "stac" }, "a STAC API (URL)"));
  private stacUrl = h("input", { type: "url", id: "trigger-stac-url", placeholder: "https://earth-search.aws.element84.com/v1", hidden: true });
  private workflow = h("select", { id: "trigger-workflow" }, h("option", { value: "" }, "ingest only"));
  private per = h("select", { id: "trigger-per" }, h("option", { value: "batch" }, "one job per batch"), h("option", { value: "item" }, "one job per item"));
  private every = h("select", { id: "trigger-every" }, ...[[15, "every 15 min"], [60, "hourly"], [1440, "daily"]].map(([v, t]) => h("option", { value: String(v) }, String(t))));
  private window = h("select", { id: "trigger-window" }, ...[1, 3, 7, 30].map((d) => h("option", { value: String(d), selected: d === 3 }, `last ${d} day${d > 1 ? "s" : ""}`)));
  private summary = h("p", { class: "muted" });
  private hookUrl = h("input", { type: "url", id: "trigger-webhook-url", placeholder: "https://hooks.example.org/stacworks" });
  private hooks = h("ul", { class: "webhooks" });
  private secret = h("p", { class: "muted", id: "trigger-webhook-secret", "aria-live": "polite" });
  private budget = h("p", { class: "muted", id: "trigger-budget" });
  private hardLimit = h("input", { type: "number", min: 0, step: 1, id: "trigger-budget-hard", placeholder: "hard limit, USD" });

  constructor(private app: App, mount: HTMLElement, private search: () => SearchSnapshot) {
    const { root, body } = panel("triggers-panel", "Triggers", false);
    const subscribe = h("button", { type: "button", class: "primary", onclick: () => void this.subscribe() }, "Subscribe to this search");
    body.append(
      this.summary,
      field("Source", this.source), this.stacUrl,
      field("Then run", this.workflow), field("Jobs", this.per),
      field("Look", this.every), field("For scenes from the", this.window),
      h("div", { class: "buttons" }, subscribe, h("button", { type: "button", onclick: () => void this.refresh() }, "Refresh")),
      this.list,
      h("h3", {}, "Monthly budget of the workflow"), this.budget,
      h("div", { class: "buttons" }, this.hardLimit, h("button", { type: "button", onclick: () => void this.setBudget() }, "Set")),
      h("h3", {}, "Notify (signed webhooks)"),
      field("Webhook URL", this.hookUrl, "Jobs finished or failed, new scenes matched, budget thresholds."),
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => void this.addWebhook() }, "Add webhook")),
      this.secret,
      this.hooks,
    );
    this.workflow.addEventListener("change", () => void this.showBudget());
    mount.append(root);
    this.source.addEventListener("change", () => (this.stacUrl.hidden = this.source.value !== "stac"));
    root.addEventListener("toggle", () => {
      if (root.open) void this.open();
    });
  }

  private async open(): Promise<void> {
    const s = this.search();
    const drawn = this.app.draw.current;
    this.summary.textContent = `${s.collection || "(no collection chosen)"}, ${drawn ? "the drawn area" : "the map extent"}` +
      (s.maxCloud ? `, cloud < ${s.maxCloud} %` : "");
    try {
      const processes = await this.app.jobs.processes();
      this.workflow.replaceChildren(h("option", { value: "" }, "ingest only"), ...processes.map((p) => h("option", { value: p.id }, p.title ?? p.id)));
    } catch {
      // no jobs service: subscriptions that only ingest still work
    }
    await this.refresh();
    await Promise.all([this.showBudget(), this.listWebhooks()]);
  }

  private async showBudget(): Promise<void> {
    const wf = this.workflow.value;
    this.budget.textContent = wf ? "…" : "Choose a workflow to see its budget.";
    if (!wf) return;
    try {
      this.budget.textContent = describeBudget(await getJson<BudgetStatus>(`${this.base}/budgets/${enc(wf)}`));
    } catch (e) {
      this.budget.textContent = `Budget unavailable: ${(e as Error).message}`;
    }
  }

  private async setBudget(): Promise<void> {
    const wf = this.workflow.value;
    const hard = Number(this.hardLimit.value);
    if (!wf || this.hardLimit.value === "" || !(hard >= 0)) return this.app.status("Choose a workflow and a limit in USD.", "error");
    try {
      await request(`${this.base}/budgets/${enc(wf)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ soft_usd: Math.round(hard * 80) / 100, hard_usd: hard }),
      });
      await this.showBudget();
    } catch (e) {
      this.app.status(`Budget refused: ${(e as Error).message}`, "error");
    }
  }

  private async listWebhooks(): Promise<void> {
    try {
      const { webhooks } = await getJson<{ webhooks: Webhook[] }>(`${this.base}/webhooks`);
      this.hooks.replaceChildren(...webhooks.map((w) => h("li", { class: "webhook", "data-webhook-id": w.id },
        h("code", {}, w.url), " ", h("small", { class: "muted" }, w.events.join(", ")), " ",
        h("button", { type: "button", onclick: async () => {
          await request(`${this.base}/webhooks/${enc(w.id)}`, { method: "DELETE" }).catch((e) => this.app.status(e.message, "error"));
          await this.listWebhooks();
        } }, "Remove"))));
    } catch {
      this.hooks.replaceChildren();
    }
  }

  private async addWebhook(): Promise<void> {
    try {
      const { data } = await postJson<Webhook>(`${this.base}/webhooks`, { url: this.hookUrl.value.trim() });
      // The secret signs every delivery; the server shows it this once.
      this.secret.replaceChildren("Signing secret (copy it now, it is not shown again): ", h("code", {}, data?.secret ?? ""));
      this.hookUrl.value = "";
      await this.listWebhooks();
    } catch (e) {
      this.app.status(`Webhook refused: ${(e as Error).message}`, "error");
    }
  }

  private area(): number[] {
    const b = this.app.map.getBounds();
    return this.app.draw.current ?? [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
  }

  async subscribe(): Promise<void> {
    try {
      const source = this.source.value === "stac" ? `stac:${this.stacUrl.value.trim().replace(/\/$/, "")}` : "catalog";
      const doc = subscriptionFromSearch(this.search(), this.area(), {
        source, workflow: this.workflow.value, per: this.per.value as "batch" | "item",
        everyMinutes: Number(this.every.value), windowDays: Number(this.window.value),
      });
      const { data } = await postJson<Trigger>(`${this.base}/subscriptions`, doc);
      this.app.status(`Subscribed (${data?.id}): new scenes are picked up ${this.every.selectedOptions[0].text}.`);
      await this.refresh();
    } catch (e) {
      this.app.status(`Subscription refused: ${(e as Error).message}`, "error");
    }
  }

  async refresh(): Promise<void> {
    let triggers: Trigger[];
    try {
      triggers = (await getJson<{ triggers: Trigger[] }>(this.base)).triggers;
    } catch (e) {
      this.list.replaceChildren(h("li", { class: "muted" }, e instanceof HttpError && e.status === 401
        ? "Sign in to see your triggers." : `Triggers could not be read: ${(e as Error).message}`));
      return;
    }
    if (!triggers.length) {
      this.list.replaceChildren(h("li", { class: "muted empty" }, "No triggers yet."));
      return;
    }
    this.list.replaceChildren(...triggers.map((t) => this.row(t)));
  }

  private row(t: Trigger): HTMLElement {
    const history = h("ul", { class: "firings" });
    const details = h("details", {}, h("summary", {}, "History"), history);
    details.addEventListener("toggle", () => {
      if (details.open) void this.history(t, history);
    });
    const act = (path: string, method = "POST") => async () => {
      try {
        await request(`${this.base}/${enc(t.id)}${path}`, { method });
        await this.refresh();
      } catch (e) {
        this.app.status((e as Error).message, "error");
      }
    };
    return h("li", { class: "trigger", "data-trigger-id": t.id, "data-paused": String(t.paused) },
      h("div", {}, h("strong", {}, t.kind), " ", h("span", {}, describeTrigger(t)), " ",
        h("span", { class: `badge ${t.paused ? "dismissed" : "running"}` }, t.paused ? "paused" : "active")),
      h("div", { class: "buttons" },
        h("button", { type: "button", onclick: act(t.paused ? "/resume" : "/pause") }, t.paused ? "Resume" : "Pause"),
        h("button", { type: "button", onclick: act("", "DELETE") }, "Delete")),
      details,
    );
  }

  private async history(t: Trigger, into: HTMLElement): Promise<void> {
    try {
      const { firings } = await getJson<{ firings: Firing[] }>(`${this.base}/${enc(t.id)}/firings?limit=20`);
      into.replaceChildren(...(firings.length ? firings.map((f) => h("li", {},
        h("span", {}, new Date(f.slot ?? f.fired_at).toLocaleString()), " ", h("span", { class: "muted" }, f.status),
        ...f.execution_ids.map((id) => [" ", h("code", { title: "job" }, id)]).flat(),
        f.detail ? h("small", { class: "muted" }, ` ${f.detail}`) : null,
      )) : [h("li", { class: "muted" }, "Not fired yet.")]));
    } catch (e) {
      into.replaceChildren(h("li", { class: "muted" }, (e as Error).message));
    }
  }
}
