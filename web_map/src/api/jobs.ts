/** The processes and jobs API (OGC API - Processes): workflows, launching, status, logs, results. */

import type { ProcessDescription, ProcessSummary } from "../state/process";
import { type JobView, normalizeJob, logLines, resultItems, formatCost } from "../state/jobs";
import { HttpError, getJson, getTextOrJson, postJson, request } from "./http";
import type { StacItem } from "./stac";

const enc = encodeURIComponent;

export class JobsApi {
  constructor(
    public readonly processesBase: string,
    public readonly jobsBase: string,
  ) {}

  async processes(): Promise<ProcessSummary[]> {
    const doc = await getJson<{ processes?: ProcessSummary[] } | ProcessSummary[]>(this.processesBase);
    return Array.isArray(doc) ? doc : (doc.processes ?? []);
  }

  process(id: string): Promise<ProcessDescription> {
    return getJson<ProcessDescription>(`${this.processesBase}/${enc(id)}`);
  }

  /**
   * The cost estimate for a request: from POST .../estimate (or .../cost), else null when the
   * server offers none.
   */
  async estimate(id: string, body: unknown): Promise<string | null> {
    for (const path of ["estimate", "cost"]) {
      try {
        const { data } = await postJson<Record<string, unknown>>(`${this.processesBase}/${enc(id)}/${path}`, body);
        if (data === null) return null;
        return formatCost(data.estimate ?? data.cost ?? data);
      } catch (e) {
        if (e instanceof HttpError && e.notAvailable) continue;
        throw e;
      }
    }
    return null;
  }

  /** Start a job; returns its first status. */
  async execute(id: string, body: unknown): Promise<JobView> {
    const { data, location } = await postJson<Record<string, unknown>>(
      `${this.processesBase}/${enc(id)}/execution`,
      body,
      { Prefer: "respond-async" },
    );
    const job = normalizeJob(data ?? {});
    if (!job.id && location) job.id = decodeURIComponent(location.split("/").filter(Boolean).pop() ?? "");
    if (!job.id) throw new Error("the server did not say which job it started");
    return job;
  }

  async job(id: string): Promise<JobView> {
    const job = normalizeJob(await getJson(`${this.jobsBase}/${enc(id)}`));
    job.id ||= id;
    return job;
  }

  async logs(id: string): Promise<string[]> {
    return logLines(await getTextOrJson(`${this.jobsBase}/${enc(id)}/logs`));
  }

  /** The job's output STAC items (fetching the ones the results only link to). */
  async results(id: string): Promise<StacItem[]> {
    const { items, hrefs } = resultItems(await getJson(`${this.jobsBase}/${enc(id)}/results`));
    const fetched = await Promise.all(
      hrefs.slice(0, 200).map((h) => getJson<StacItem>(new URL(h, this.jobsBase + "/").href).catch(() => null)),
    );
    return [...(items as unknown as StacItem[]), ...fetched.filter((i): i is StacItem => i !== null)];
  }

  async dismiss(id: string): Promise<void> {
    await request(`${this.jobsBase}/${enc(id)}`, { method: "DELETE" });
  }
}
