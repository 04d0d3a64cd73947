/** How to call a process: which input takes the selected items, which inputs form the form. */

import { type Field, type JsonSchema, fieldFor, fieldsFromSchema, mainType } from "./form";
import type { SelectedItem } from "./selection";

export interface ProcessInput {
  title?: string;
  description?: string;
  schema?: JsonSchema;
  minOccurs?: number;
  maxOccurs?: number | "unbounded";
}

export interface ProcessSummary {
  id: string;
  title?: string;
  description?: string;
  version?: string;
}

export interface ProcessDescription extends ProcessSummary {
  inputs?: Record<string, ProcessInput> | (ProcessInput & { id: string })[];
  [key: string]: unknown;
}

export interface ProcessPlan {
  /** The input that receives the selected items (null: the process takes none). */
  itemInput: string | null;
  /** How each item is passed: its STAC URL, or an object with collection, id and href. */
  itemShape: "url" | "object";
  fields: Field[];
}

const ITEM_NAMES = /^(items?|input_?items?|inputs?|scenes?|hrefs?|urls?|stac_?items?)$/i;
/** Optional inputs that are other ways to name the items (the selection already does). */
const ITEM_ALTERNATIVES = /^(collection|ids|search|bbox|datetime)$/i;

/** The schema of one element of an items input (the array's items, or the input itself). */
const elementOf = (schema: JsonSchema): JsonSchema => (mainType(schema) === "array" ? (schema.items ?? {}) : schema);

/** Items are sent as {collection, id, href} when the schema allows objects, else as URLs. */
function shapeOf(element: JsonSchema): ProcessPlan["itemShape"] {
  const options = [element, ...(element.oneOf ?? []), ...(element.anyOf ?? [])];
  return options.some((o) => o.type === "object" || o.properties?.id) ? "object" : "url";
}

function inputsOf(p: ProcessDescription): [string, ProcessInput][] {
  if (Array.isArray(p.inputs)) return p.inputs.map((i) => [i.id, i]);
  return Object.entries(p.inputs ?? {});
}

function isItemInput(name: string, schema: JsonSchema): boolean {
  if (ITEM_NAMES.test(name)) return true;
  const element = elementOf(schema);
  return /item/i.test(name) && (element.format === "uri" || mainType(element) === "object");
}

/** Read a process description into a plan for the launch form. */
export function planProcess(p: ProcessDescription): ProcessPlan {
  let itemInput: string | null = null;
  let itemShape: ProcessPlan["itemShape"] = "url";
  const fields: Field[] = [];
  for (const [name, input] of inputsOf(p)) {
    const schema: JsonSchema = input.schema ?? {};
    const optional = (input.minOccurs ?? 1) === 0;
    if (itemInput === null && isItemInput(name, schema)) {
      itemInput = name;
      itemShape = shapeOf(elementOf(schema));
    } else if (optional && ITEM_ALTERNATIVES.test(name)) {
      continue;
    } else if (mainType(schema) === "object" || (!schema.type && schema.properties)) {
      // e.g. "parameters": one field per property (none when it declares no properties)
      fields.push(...fieldsFromSchema(schema, name));
    } else {
      const required = (input.minOccurs ?? 1) > 0 && schema.default === undefined;
      const field = fieldFor(name, schema, required);
      fields.push({ ...field, label: input.title ?? field.label, description: input.description ?? field.description });
    }
  }
  return { itemInput, itemShape, fields };
}

/** The OGC API - Processes execute request for the selection and the parsed form values. */
export function executionRequest(
  plan: ProcessPlan,
  items: SelectedItem[],
  values: Record<string, unknown>,
): { inputs: Record<string, unknown> } {
  const inputs: Record<string, unknown> = {};
  if (plan.itemInput) {
    inputs[plan.itemInput] = items.map((i) =>
      plan.itemShape === "object" ? { collection: i.collection, id: i.id, href: i.href } : i.href,
    );
  }
  for (const f of plan.fields) {
    const key = f.group ? `${f.group}.${f.name}` : f.name;
    if (f.group) inputs[f.group] ??= {}; // an object input is sent even when all its fields are empty
    if (!(key in values)) continue;
    if (f.group) {
      (inputs[f.group] as Record<string, unknown>)[f.name] = values[key];
    } else {
      inputs[f.name] = values[key];
    }
  }
  return { inputs };
}
