/** The ingest API: which remote sources exist, start a run, follow its progress. */

import { getJson, postJson } from "./http";

export interface IngestRequest {
  source: string;
  collection?: string;
  bbox?: number[];
  datetime?: string;
  max_cloud?: number;
  limit?: number;
  ids?: string[];
}

export interface IngestRun {
  id: number;
  status: string; // queued / running / done / partial / failed
  error?: string | null;
  message?: string;
  counts: { found: number; queued: number; running: number; retrying: number; done: number; failed: number; skipped: number };
  products?: { item_id?: string; collection?: string; status: string; stage?: string; error?: string | null }[];
}

export const RUN_FINISHED = new Set(["done", "partial", "failed"]);

/** Share of the run's products that are finished (done, failed or skipped), 0..100. */
export function runProgress(run: IngestRun): number {
  const c = run.counts;
  if (!c.found) return RUN_FINISHED.has(run.status) ? 100 : 0;
  return Math.round((100 * (c.done + c.failed + c.skipped)) / c.found);
}

export class IngestApi {
  constructor(public readonly base: string) {}

  async sources(): Promise<string[]> {
    const doc = await getJson<{ sources?: string[] }>(`${this.base}/`);
    return doc.sources ?? [];
  }

  async start(req: IngestRequest): Promise<IngestRun> {
    const { data } = await postJson<IngestRun>(`${this.base}/runs`, req);
    if (!data) throw new Error("the ingest service answered without a run");
    return data;
  }

  run(id: number): Promise<IngestRun> {
    return getJson<IngestRun>(`${this.base}/runs/${id}`);
  }
}
