import { describe, expect, it } from "vitest";
import { fieldsFromSchema, initialText, parseValues } from "../src/state/form";
import { executionRequest, planProcess } from "../src/state/process";

const ndviParams = {
  type: "object",
  required: ["red", "nir"],
  properties: {
    red: { type: "string", default: "red", description: "asset key of the red band" },
    nir: { type: "string", default: "nir" },
    scale: { type: ["number", "null"], minimum: 0, maximum: 10, default: 1 },
    tiles: { type: "integer", minimum: 1 },
    format: { enum: ["COG", "PNG"], default: "COG" },
    level: { oneOf: [{ const: 1 }, { const: 2 }] },
    overwrite: { type: "boolean", default: true },
    extra: { type: "object" },
  },
};

describe("JSON Schema to form fields", () => {
  it("maps types, defaults, bounds and options", () => {
    const f = Object.fromEntries(fieldsFromSchema(ndviParams).map((x) => [x.name, x]));
    expect(f.red).toMatchObject({ kind: "string", required: true, default: "red" });
    expect(f.scale).toMatchObject({ kind: "number", minimum: 0, maximum: 10, required: false });
    expect(f.tiles.kind).toBe("integer");
    expect(f.format).toMatchObject({ kind: "enum", options: ["COG", "PNG"] });
    expect(f.level).toMatchObject({ kind: "enum", options: [1, 2] });
    expect(f.overwrite.kind).toBe("boolean");
    expect(f.extra.kind).toBe("json");
    expect(initialText(f.scale)).toBe("1");
  });

  it("parses values into their types and reports what is wrong", () => {
    const fields = fieldsFromSchema(ndviParams);
    const ok = parseValues(fields, { red: "B04", nir: "B08", scale: "2.5", tiles: "3", format: "PNG", level: "2", overwrite: false, extra: '{"a":1}' });
    expect(ok.errors).toEqual({});
    expect(ok.values).toEqual({ red: "B04", nir: "B08", scale: 2.5, tiles: 3, format: "PNG", level: 2, overwrite: false, extra: { a: 1 } });
    const bad = parseValues(fields, { red: "", nir: "x", scale: "11", tiles: "1.5", format: "GIF", extra: "{" });
    expect(Object.keys(bad.errors).sort()).toEqual(["extra", "format", "red", "scale", "tiles"]);
    expect(bad.errors.scale).toMatch(/at most 10/);
  });
});

describe("process descriptions", () => {
  const process = {
    id: "ndvi",
    inputs: {
      items: {
        minOccurs: 0,
        schema: {
          type: "array",
          items: {
            oneOf: [
              { type: "string" },
              { type: "object", required: ["collection", "id"], properties: { collection: { type: "string" }, id: { type: "string" } } },
            ],
          },
        },
      },
      collection: { minOccurs: 0, schema: { type: "string" } },
      ids: { minOccurs: 0, schema: { type: "array", items: { type: "string" } } },
      search: { minOccurs: 0, schema: { type: "object" } },
      parameters: { minOccurs: 0, schema: ndviParams },
    },
  };

  it("finds the items input and the parameter fields, skipping the other ways to name items", () => {
    const plan = planProcess(process);
    expect(plan.itemInput).toBe("items");
    expect(plan.itemShape).toBe("object");
    expect(plan.fields.map((f) => `${f.group}.${f.name}`)).toContain("parameters.red");
    expect(plan.fields.some((f) => ["collection", "ids", "search"].includes(f.name))).toBe(false);
  });

  it("builds the execute request from the selection and the values", () => {
    const plan = planProcess(process);
    const body = executionRequest(plan, [{ id: "a", collection: "c", href: "http://x/a" }], { "parameters.red": "B04" });
    expect(body).toEqual({ inputs: { items: [{ collection: "c", id: "a", href: "http://x/a" }], parameters: { red: "B04" } } });
  });

  it("passes items as URLs when the schema wants strings, and top-level scalar inputs as fields", () => {
    const plan = planProcess({ id: "p", inputs: { input_items: { schema: { type: "array", items: { type: "string", format: "uri" } } }, threshold: { title: "Threshold", schema: { type: "number" } } } });
    expect(plan).toMatchObject({ itemInput: "input_items", itemShape: "url" });
    expect(plan.fields[0]).toMatchObject({ name: "threshold", label: "Threshold", required: true });
    expect(executionRequest(plan, [{ id: "a", collection: "c", href: "http://x/a" }], { threshold: 0.3 })).toEqual({ inputs: { input_items: ["http://x/a"], threshold: 0.3 } });
  });
});
