/** The workflows, algorithms and validation endpoints the builder uses (beside /processes). */

import { getJson, postJson, request } from "../api/http";
import type { JsonObject } from "./model";
import type { Algorithm } from "./states";

const enc = encodeURIComponent;

/** A stored workflow version, as GET /workflows/{id} answers. */
export interface WorkflowDoc {
  id: string;
  version: number;
  title?: string | null;
  description?: string;
  definition: JsonObject;
  output_collection?: string | null;
  renders?: JsonObject;
  parameters?: JsonObject;
}

export interface Issue {
  code: string;
  message: string;
  state: string | null;
  field: string | null;
  pointer: string;
}

export interface Validation {
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
}

/** A run of a workflow, as GET /jobs lists it. */
export interface RunSummary {
  jobID: string;
  status: string;
  created?: string | null;
  finished?: string | null;
  message?: string;
  workflow?: { id: string; version: number };
}

/** One task run with its log lines (GET /jobs/{id}/logs). */
export interface TaskLog {
  id: number;
  state: string;
  map_index: number | null;
  status: string;
  exit_code: number | null;
  duration_seconds: number | null;
  cost_usd: number | null;
  error: string | null;
  cause: string | null;
  lines: { message: string; stream: string }[];
}

export class BuilderApi {
  /** `root`: the platform's base URL (the parent of /processes). */
  constructor(public readonly root: string) {}

  async workflows(): Promise<WorkflowDoc[]> {
    return (await getJson<{ workflows: WorkflowDoc[] }>(`${this.root}/workflows`)).workflows;
  }

  workflow(id: string, version?: number): Promise<WorkflowDoc> {
    return getJson(`${this.root}/workflows/${enc(id)}${version ? `?version=${version}` : ""}`);
  }

  async versions(id: string): Promise<WorkflowDoc[]> {
    return (await getJson<{ versions: WorkflowDoc[] }>(`${this.root}/workflows/${enc(id)}/versions`)).versions;
  }

  async create(doc: Omit<WorkflowDoc, "version">): Promise<WorkflowDoc> {
    return (await postJson<WorkflowDoc>(`${this.root}/workflows`, doc)).data!;
  }

  /** Store the next version (the server numbers it). */
  async update(id: string, doc: Omit<WorkflowDoc, "version" | "id">): Promise<WorkflowDoc> {
    const res = await request(`${this.root}/workflows/${enc(id)}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(doc),
    });
    return (await res.json()) as WorkflowDoc;
  }

  async duplicate(id: string, newId: string, version?: number): Promise<WorkflowDoc> {
    return (await postJson<WorkflowDoc>(`${this.root}/workflows/${enc(id)}/duplicate`, { id: newId, ...(version ? { version } : {}) })).data!;
  }

  async remove(id: string): Promise<void> {
    await request(`${this.root}/workflows/${enc(id)}`, { method: "DELETE" });
  }

  async validate(definition: JsonObject): Promise<Validation> {
    return (await postJson<Validation>(`${this.root}/workflows/validate`, definition)).data!;
  }

  async algorithms(): Promise<Algorithm[]> {
    return (await getJson<{ algorithms: Algorithm[] }>(`${this.root}/algorithms`)).algorithms;
  }

  async algorithmVersions(name: string): Promise<Algorithm[]> {
    return (await getJson<{ versions: Algorithm[] }>(`${this.root}/algorithms/${enc(name)}/versions`)).versions;
  }

  /** The server's estimate for `count` items: {cost_usd, task_runs, tasks: [...]}. */
  async estimate(processId: string, count: number): Promise<{ cost_usd: number; task_runs: number }> {
    return (await postJson<{ cost_usd: number; task_runs: number }>(`${this.root}/processes/${enc(processId)}/estimate`, { item_count: count })).data!;
  }

  async runs(processId: string): Promise<RunSummary[]> {
    return (await getJson<{ jobs: RunSummary[] }>(`${this.root}/jobs?processID=${enc(processId)}&limit=50`)).jobs;
  }

  run(id: string): Promise<JsonObject> {
    return getJson(`${this.root}/jobs/${enc(id)}`);
  }

  async logs(id: string): Promise<TaskLog[]> {
    return (await getJson<{ tasks: TaskLog[] }>(`${this.root}/jobs/${enc(id)}/logs`)).tasks;
  }

  /** The execution's events (state outputs are in their details). */
  async history(id: string): Promise<JsonObject[]> {
    return (await getJson<{ events: JsonObject[] }>(`${this.root}/jobs/${enc(id)}/history`)).events;
  }
}
