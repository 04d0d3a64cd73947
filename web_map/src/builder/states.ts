/**
 * New states for the palette, and the algorithm a Task state runs (the same ECS task shape the
 * server writes in processing/workflows.py: it runs unchanged on our executor and on AWS).
 */

import type { Json, JsonObject, StateKind } from "./model";

export const ECS_RESOURCE = "arn:aws:states:::ecs:runTask.sync";
const FAMILY_PREFIX = "stacworks-";
const TASK_DEF = /^(?:arn:[^:]*:ecs:[^:]*:[^:]*:task-definition\/)?([^:/]+)(?::(\d+))?$/;
const PARAMETERS_FROM_INPUT = "States.JsonToString($.parameters)";

/** A registered algorithm as GET /algorithms lists it (the fields the builder uses). */
export interface Algorithm {
  name: string;
  version: string;
  title?: string | null;
  description?: string;
  cpu: number;
  memory: number;
  parameters?: JsonObject;
  inputs?: "each" | "all";
  typical_duration_seconds?: number;
  timeout_seconds?: number | null;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

interface EnvEntry {
  Name: string;
  Value?: string;
  "Value.$"?: string;
}

function containerOf(body: JsonObject): JsonObject | null {
  const params = body.Parameters;
  if (!isObject(params) || !isObject(params.Overrides)) return null;
  const list = params.Overrides.ContainerOverrides;
  return Array.isArray(list) && isObject(list[0]) ? list[0] : null;
}

function envOf(body: JsonObject): EnvEntry[] {
  const env = containerOf(body)?.Environment;
  return Array.isArray(env) ? (env.filter(isObject) as unknown as EnvEntry[]) : [];
}

/** The algorithm an ECS Task names: {name, version (pinned or null)}; null for other tasks. */
export function taskAlgorithm(body: JsonObject): { name: string; version: string | null } | null {
  const params = body.Parameters;
  if (typeof body.Resource !== "string" || !body.Resource.startsWith("arn:aws:states:::ecs:runTask")) return null;
  if (!isObject(params) || typeof params.TaskDefinition !== "string") return null;
  const m = TASK_DEF.exec(params.TaskDefinition);
  if (!m) return null;
  const version = envOf(body).find((e) => e.Name === "STACWORKS_ALGORITHM_VERSION")?.Value;
  return { name: m[1].replace(/^stacworks-/, ""), version: version ?? null };
}

/** The algorithm parameters a Task fixes (null: they come from the run's input). */
export function taskParameters(body: JsonObject): JsonObject | null {
  const entry = envOf(body).find((e) => e.Name === "STACWORKS_PARAMETERS");
  if (!entry || typeof entry.Value !== "string") return null;
  try {
    const v = JSON.parse(entry.Value) as Json;
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

/** Fix a Task's algorithm parameters (null: take them from the run's input, `$.parameters`). */
export function setTaskParameters(body: JsonObject, values: JsonObject | null): void {
  const env = containerOf(body)?.Environment;
  if (!Array.isArray(env)) return;
  const i = env.findIndex((e) => isObject(e) && e.Name === "STACWORKS_PARAMETERS");
  const entry: JsonObject = values
    ? { Name: "STACWORKS_PARAMETERS", Value: JSON.stringify(values) }
    : { Name: "STACWORKS_PARAMETERS", "Value.$": PARAMETERS_FROM_INPUT };
  if (i >= 0) env[i] = entry;
  else env.push(entry);
}

/** Pin (or unpin, with null) the algorithm version a Task runs. */
export function setTaskVersion(body: JsonObject, version: string | null): void {
  const env = containerOf(body)?.Environment;
  if (!Array.isArray(env)) return;
  const i = env.findIndex((e) => isObject(e) && e.Name === "STACWORKS_ALGORITHM_VERSION");
  if (version === null) {
    if (i >= 0) env.splice(i, 1);
  } else if (i >= 0) env[i] = { Name: "STACWORKS_ALGORITHM_VERSION", Value: version };
  else env.push({ Name: "STACWORKS_ALGORITHM_VERSION", Value: version });
}

/** A Task state running `algorithm` on the items at `$.items` (as processing/workflows.py does). */
export function algorithmTask(algorithm: Algorithm): JsonObject {
  const body: JsonObject = {
    Resource: ECS_RESOURCE,
    Parameters: {
      Cluster: "stacworks",
      LaunchType: "FARGATE",
      TaskDefinition: `${FAMILY_PREFIX}${algorithm.name}`,
      Overrides: {
        ContainerOverrides: [
          {
            Name: algorithm.name,
            Environment: [
              { Name: "STACWORKS_INPUT_ITEMS", "Value.$": "States.JsonToString($.items)" },
              { Name: "STACWORKS_PARAMETERS", "Value.$": PARAMETERS_FROM_INPUT },
              { Name: "STACWORKS_ALGORITHM_VERSION", Value: algorithm.version },
            ],
          },
        ],
      },
    },
    ResultPath: null,
  };
  if (algorithm.timeout_seconds) body.TimeoutSeconds = Math.round(algorithm.timeout_seconds);
  return body;
}

/** The body of a new control state, ready to run (a Map over the selection, one item each). */
export function controlBody(kind: StateKind): JsonObject {
  switch (kind) {
    case "Map":
      return {
        ItemsPath: "$.items",
        ItemSelector: { "items.$": "States.Array($$.Map.Item.Value)", "parameters.$": "$.parameters" },
        MaxConcurrency: 4,
        ResultPath: "$.results",
      };
    case "Parallel":
      return { ResultPath: "$.branches" };
    case "Choice":
      return { Choices: [] };
    case "Wait":
      return { Seconds: 5 };
    case "Pass":
      return {};
    case "Fail":
      return { Error: "Failed", Cause: "The workflow stopped here." };
    default:
      return {};
  }
}

/** A Choice rule template (a comparison of an output value), edited in the node's form. */
export function choiceRule(): JsonObject {
  return { Variable: "$.status", StringEquals: "done" };
}

/** A Catcher template: every error, recorded at `$.error`. */
export function catcher(): JsonObject {
  return { ErrorEquals: ["States.ALL"], ResultPath: "$.error" };
}
