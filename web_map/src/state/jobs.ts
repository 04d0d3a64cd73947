/** Jobs as the processes API reports them, read defensively into one shape for the UI. */

export const JOB_STATUSES = ["accepted", "running", "successful", "failed", "dismissed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINISHED: ReadonlySet<string> = new Set(["successful", "failed", "dismissed"]);

export interface StateProgress {
  name: string;
  status?: string;
  progress?: number; // 0..100
  done?: number;
  total?: number;
}

export interface JobView {
  id: string;
  processId?: string;
  status: JobStatus;
  progress: number | null;
  message: string;
  states: StateProgress[];
  cost?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function normalizeStatus(v: unknown): JobStatus {
  const s = String(v ?? "").toLowerCase();
  if ((JOB_STATUSES as readonly string[]).includes(s)) return s as JobStatus;
  if (s === "succeeded" || s === "success" || s === "done") return "successful";
  if (s === "queued" || s === "pending" || s === "created") return "accepted";
  if (s === "error" || s === "aborted" || s === "timed_out") return "failed";
  return "running";
}

function stateProgress(name: string, v: unknown): StateProgress {
  if (typeof v === "number") return { name, progress: v };
  if (!isObj(v)) return { name, status: String(v) };
  const done = num(v.done ?? v.completed ?? v.succeeded);
  const total = num(v.total ?? v.count ?? v.entered);
  let progress = num(v.progress ?? v.percent);
  if (progress === undefined && done !== undefined && total) progress = (100 * done) / total;
  // Counts only ({entered, succeeded, failed, running}): say what they add up to.
  let status = v.status === undefined ? undefined : String(v.status);
  if (status === undefined && total !== undefined) {
    if (num(v.failed)) status = "failed";
    else if (num(v.running)) status = "running";
    else if (done !== undefined && done >= total) status = "done";
  }
  return {
    name: String(v.name ?? v.state ?? name),
    status,
    progress,
    done,
    total,
  };
}

/** Per-state progress, whichever key and shape (list or mapping) the server uses. */
export function statesOf(raw: Obj): StateProgress[] {
  const v = raw.states ?? raw["x-states"] ?? raw.progress_by_state ?? raw.state_progress ?? raw.steps;
  if (Array.isArray(v)) return v.map((s, i) => stateProgress(`state ${i + 1}`, s));
  if (isObj(v)) return Object.entries(v).map(([k, s]) => stateProgress(k, s));
  return [];
}

export function normalizeJob(raw: unknown): JobView {
  const o = isObj(raw) ? raw : {};
  const cost = o.cost ?? o.cost_estimate ?? o["x-cost"];
  return {
    id: String(o.jobID ?? o.jobId ?? o.id ?? ""),
    processId: o.processID !== undefined ? String(o.processID) : o.processId !== undefined ? String(o.processId) : undefined,
    status: normalizeStatus(o.status),
    progress: num(o.progress) ?? null,
    message: typeof o.message === "string" ? o.message : "",
    states: statesOf(o),
    cost: cost === undefined ? undefined : formatCost(cost),
  };
}

/** A cost estimate (a number, or an object with amount/currency/duration) as one line. */
export function formatCost(v: unknown): string {
  if (typeof v === "number") return v.toFixed(2);
  if (typeof v === "string") return v;
  if (!isObj(v)) return "";
  const parts: string[] = [];
  const usd = num(v.usd ?? v.cost_usd);
  const amount = usd ?? num(v.amount ?? v.total ?? v.value ?? v.cost);
  if (amount !== undefined) parts.push(`${amount.toFixed(amount < 1 ? 4 : 2)} ${String(v.currency ?? (usd !== undefined ? "USD" : ""))}`.trim());
  const runs = num(v.task_runs);
  if (runs !== undefined) parts.push(`${runs} task run${runs === 1 ? "" : "s"}`);
  const secs = num(v.seconds ?? v.duration_s ?? v.cpu_seconds);
  if (secs !== undefined) parts.push(`~${Math.round(secs)} s`);
  if (typeof v.description === "string") parts.push(v.description);
  return parts.length ? parts.join(", ") : JSON.stringify(v);
}

/** Log lines from text, a list, or {logs: [...]} of strings or {time, state, message}. */
export function logLines(raw: unknown): string[] {
  if (typeof raw === "string") return raw.split("\n").filter((l) => l.length);
  // {tasks: [{state, lines: [...]}, ...]}: one block per task run, lines tagged with the state.
  if (isObj(raw) && Array.isArray(raw.tasks)) {
    return raw.tasks.flatMap((t) => {
      if (!isObj(t)) return [];
      const where = [t.state, t.map_index !== null && t.map_index !== undefined ? `#${String(t.map_index)}` : ""].join("");
      const lines = Array.isArray(t.lines) ? t.lines : [];
      return lines.map((l) => (isObj(l) ? { state: where, ...l } : { state: where, message: String(l) }));
    }).map((e) => formatLine(e));
  }
  const list = Array.isArray(raw) ? raw : isObj(raw) ? (raw.logs ?? raw.lines ?? raw.events ?? []) : [];
  if (!Array.isArray(list)) return [];
  return list.map(formatLine);
}

function formatLine(e: unknown): string {
  if (!isObj(e)) return String(e);
  const time = typeof e.time === "string" ? e.time.slice(11, 19) : (e.timestamp ?? "");
  const where = e.state ?? e.source ?? "";
  const msg = e.message ?? e.msg ?? e.line ?? JSON.stringify(e);
  return [time, where && `[${String(where)}]`, msg].filter(Boolean).join(" ");
}

export interface StacItemLike {
  type: "Feature";
  id: string;
  collection?: string;
  bbox?: number[];
  [key: string]: unknown;
}

/** Output STAC items in a results document, and links to items still to fetch. */
export function resultItems(raw: unknown): { items: StacItemLike[]; hrefs: string[] } {
  const items: StacItemLike[] = [];
  const hrefs: string[] = [];
  const seen = new Set<string>();
  const visit = (v: unknown, depth: number) => {
    if (depth > 4 || v === null || typeof v !== "object") return;
    if (Array.isArray(v)) {
      v.forEach((x) => visit(x, depth + 1));
      return;
    }
    const o = v as Obj;
    if (o.type === "Feature" && typeof o.id === "string") {
      const k = `${String(o.collection)}/${o.id}`;
      if (!seen.has(k)) {
        seen.add(k);
        items.push(o as StacItemLike);
      }
      return;
    }
    if (typeof o.href === "string" && (o.rel === "item" || o.rel === "derived" || /\/items\/[^/]+$/.test(o.href))) {
      if (!hrefs.includes(o.href)) hrefs.push(o.href);
      return;
    }
    for (const x of Object.values(o)) visit(x, depth + 1);
  };
  visit(raw, 0);
  return { items, hrefs };
}
