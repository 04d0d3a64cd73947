/** JSON Schema (an object's properties) -> form fields, and form values -> typed parameters. */

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}

export type FieldKind = "number" | "integer" | "string" | "boolean" | "enum" | "json";

export interface Field {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  options?: unknown[];
  /** The process input this field belongs to, when it is a property of an object input. */
  group?: string;
}

/** The schema's main type: the first that is not "null" (["number", "null"] -> "number"). */
export function mainType(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== "null");
  if (schema.type) return schema.type;
  const alt = schema.oneOf ?? schema.anyOf;
  if (alt) {
    const options = alt.filter((s) => s.const !== undefined).map((s) => s.const);
    if (options.length === alt.length) return "enum";
    for (const s of alt) {
      const t = mainType(s);
      if (t && t !== "null") return t;
    }
  }
  return undefined;
}

/** One field for one schema. */
export function fieldFor(name: string, schema: JsonSchema, required: boolean, group?: string): Field {
  const t = mainType(schema);
  const alt = schema.oneOf ?? schema.anyOf;
  let kind: FieldKind;
  let options: unknown[] | undefined;
  if (schema.enum) {
    kind = "enum";
    options = schema.enum;
  } else if (t === "enum" && alt) {
    kind = "enum";
    options = alt.map((s) => s.const);
  } else if (t === "number" || t === "integer" || t === "boolean" || t === "string") {
    kind = t;
  } else {
    kind = "json"; // objects, arrays and anything unusual: edited as JSON text
  }
  return {
    name,
    label: schema.title ?? name.replace(/[_-]+/g, " "),
    kind,
    required,
    description: schema.description,
    default: schema.default,
    minimum: schema.minimum ?? schema.exclusiveMinimum,
    maximum: schema.maximum ?? schema.exclusiveMaximum,
    options,
    group,
  };
}

/** The fields of an object schema, in property order. */
export function fieldsFromSchema(schema: JsonSchema, group?: string): Field[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, s]) =>
    fieldFor(name, s, required.has(name), group),
  );
}

export interface ParsedValues {
  values: Record<string, unknown>;
  errors: Record<string, string>;
}

/** The form's raw values (strings from inputs, booleans from checkboxes) as typed values. */
export function parseValues(fields: Field[], raw: Record<string, string | boolean>): ParsedValues {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const key = f.group ? `${f.group}.${f.name}` : f.name;
    const v = raw[key];
    if (f.kind === "boolean") {
      values[key] = Boolean(v);
      continue;
    }
    const text = typeof v === "string" ? v.trim() : "";
    if (text === "") {
      if (f.required) errors[key] = `${f.label} is required`;
      continue;
    }
    if (f.kind === "number" || f.kind === "integer") {
      const n = Number(text);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n))) {
        errors[key] = `${f.label} must be ${f.kind === "integer" ? "a whole number" : "a number"}`;
      } else if (f.minimum !== undefined && n < f.minimum) {
        errors[key] = `${f.label} must be at least ${f.minimum}`;
      } else if (f.maximum !== undefined && n > f.maximum) {
        errors[key] = `${f.label} must be at most ${f.maximum}`;
      } else {
        values[key] = n;
      }
    } else if (f.kind === "enum") {
      // Options are rendered as their JSON text, so non-string options survive the round trip.
      const match = (f.options ?? []).find((o) => optionValue(o) === text);
      if (match === undefined) errors[key] = `${f.label}: choose one of the options`;
      else values[key] = match;
    } else if (f.kind === "json") {
      try {
        values[key] = JSON.parse(text);
      } catch {
        errors[key] = `${f.label} must be valid JSON`;
      }
    } else {
      values[key] = text;
    }
  }
  return { values, errors };
}

/** How an enum option is written in a <select>'s value. */
export function optionValue(o: unknown): string {
  return typeof o === "string" ? o : JSON.stringify(o);
}

/** The text a field starts with (its default). */
export function initialText(f: Field): string {
  if (f.default === undefined || f.default === null) return "";
  if (f.kind === "json") return JSON.stringify(f.default);
  return optionValue(f.default);
}
