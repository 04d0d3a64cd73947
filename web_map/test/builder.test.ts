import { describe, expect, it } from "vitest";
import { autoLayout } from "../src/builder/layout";
import { type Flat, exportAsl, fromFlat, importAsl, sameJson, splitComment, toFlat, walk } from "../src/builder/model";
import { algorithmTask, setTaskParameters, taskAlgorithm, taskParameters } from "../src/builder/states";

/** Every example workflow, as the files hold them (a new file is picked up by itself). */
const FILES = import.meta.glob("../../examples/workflows/*.json", { eager: true, query: "?raw", import: "default" }) as Record<string, string>;
const examples = Object.keys(FILES).map((path) => path.split("/").pop()!);
const read = (f: string) => JSON.parse(FILES[`../../examples/workflows/${f}`]);

/** A document as the Step Functions console writes it: no layout, Parallel, Wait, Fail. */
const CONSOLE = {
  Comment: "A description of my state machine",
  StartAt: "Prepare",
  States: {
    Prepare: { Type: "Pass", Next: "Both" },
    Both: {
      Type: "Parallel",
      Branches: [
        { StartAt: "A", States: { A: { Type: "Wait", Seconds: 1, Next: "A2" }, A2: { Type: "Pass", End: true } } },
        { StartAt: "B", States: { B: { Type: "Pass", End: true } } },
      ],
      Catch: [{ ErrorEquals: ["States.ALL"], Next: "Oops" }],
      Next: "Check",
    },
    Check: {
      Type: "Choice",
      Choices: [{ Variable: "$.ok", BooleanEquals: true, Next: "Fine" }],
      Default: "Oops",
    },
    Fine: { Type: "Succeed" },
    Oops: { Type: "Fail", Error: "E", Cause: "c" },
  },
};

describe("graph ⇄ ASL", () => {
  it("reads the example workflows", () => expect(examples).toContain("ndvi-map.json"));

  it.each(examples)("imports and exports %s unchanged", (file) => {
    const doc = read(file);
    const { graph, laidOut } = importAsl(doc);
    expect(laidOut).toBe(false);
    const out = exportAsl(graph);
    expect(sameJson(out, doc)).toBe(true);
    // ... and in the same key order, so a diff of the file is empty
    expect(JSON.stringify(out)).toBe(JSON.stringify(doc));
  });

  it.each(examples)("keeps %s through the canvas's flat form and a layout", (file) => {
    const doc = read(file);
    const { graph } = importAsl(doc);
    autoLayout(graph);
    const flat = toFlat(graph);
    const back = fromFlat(flat);
    expect(back.problems).toEqual([]);
    expect(sameJson(exportAsl(back.graph), doc)).toBe(true);
  });

  it("lays out a console document and keeps the layout in the Comment", () => {
    const { graph, laidOut } = importAsl(JSON.stringify(CONSOLE));
    expect(laidOut).toBe(false);
    autoLayout(graph);
    const boxes = [...walk(graph)].map(([path, node]) => [path, node.box]);
    expect(boxes.every(([, b]) => b && (b as { width: number }).width > 0)).toBe(true);
    const both = graph.nodes.find((n) => n.name === "Both")!;
    // the Parallel holds its branches: each inner box lies inside the container
    for (const branch of both.branches!) {
      for (const n of branch.nodes) {
        expect(n.box!.x + n.box!.width).toBeLessThanOrEqual(both.box!.width);
        expect(n.box!.y + n.box!.height).toBeLessThanOrEqual(both.box!.height);
      }
    }
    // ranks go down: Prepare above Both above Check
    const y = (name: string) => graph.nodes.find((n) => n.name === name)!.box!.y;
    expect(y("Prepare")).toBeLessThan(y("Both"));
    expect(y("Both")).toBeLessThan(y("Check"));

    const saved = exportAsl(graph, { layout: true });
    expect(String(saved.Comment)).toMatch(/^A description of my state machine\n@layout /);
    const { text } = splitComment(saved.Comment);
    expect(text).toBe(CONSOLE.Comment);
    const again = importAsl(saved);
    expect(again.laidOut).toBe(true);
    expect(again.graph.nodes.map((n) => n.box)).toEqual(graph.nodes.map((n) => n.box));
    expect(exportAsl(again.graph, { layout: true })).toEqual(saved);
    expect(sameJson(exportAsl(again.graph), CONSOLE)).toBe(true);
  });

  it("adds a Comment for the layout only when the document had none", () => {
    const bare = { StartAt: "P", States: { P: { Type: "Pass", End: true } } };
    const { graph } = importAsl(bare);
    autoLayout(graph);
    const saved = exportAsl(graph, { layout: true });
    expect(String(saved.Comment).startsWith("@layout ")).toBe(true);
    expect(exportAsl(importAsl(saved).graph)).toEqual(bare);
  });

  it("keeps an older Map's Iterator and fields it does not know", () => {
    const doc = {
      QueryLanguage: "JSONPath",
      StartAt: "M",
      States: { M: { Type: "Map", Iterator: { StartAt: "I", States: { I: { Type: "Pass", End: true } } }, MaxConcurrency: 1, End: true } },
    };
    const { graph } = importAsl(doc);
    autoLayout(graph);
    expect(JSON.stringify(exportAsl(fromFlat(toFlat(graph)).graph))).toBe(JSON.stringify(doc));
  });

  it("refuses what is not a state machine, naming where", () => {
    expect(() => importAsl("{")).toThrow(/not JSON/);
    expect(() => importAsl({ States: {} })).toThrow(/StartAt/);
    expect(() => importAsl({ StartAt: "x", States: { x: { Type: "Nope" } } })).toThrow(/States\.x\.Type/);
  });
});

describe("the canvas's flat form", () => {
  const ndvi = { name: "ndvi", version: "1.0.0", cpu: 1024, memory: 2048 };

  function mapOverNdvi(): Flat {
    return {
      top: { extra: {}, keys: ["StartAt", "States"], startAt: "" },
      starts: {},
      nodes: [
        { id: "m", parent: null, name: "EachItem", kind: "Map", body: { ItemsPath: "$.items", MaxConcurrency: 2 }, keys: [] },
        { id: "t", parent: "m", name: "NDVI", kind: "Task", body: algorithmTask(ndvi), keys: [] },
        { id: "s", parent: null, name: "Done", kind: "Succeed", body: {}, keys: [] },
      ],
      edges: [{ id: "e", source: "m", target: "s", kind: "next" }],
    };
  }

  it("builds Map → ndvi from dropped nodes", () => {
    const { graph, problems } = fromFlat(mapOverNdvi());
    expect(problems).toEqual([]);
    const doc = exportAsl(graph) as any;
    expect(doc.StartAt).toBe("EachItem");
    expect(Object.keys(doc.States.EachItem)[0]).toBe("Type");
    expect(doc.States.EachItem.ItemProcessor.States.NDVI.Type).toBe("Task");
    expect(Object.keys(exportAsl(graph, { layout: true })).slice(0, 2)).toEqual(["Comment", "StartAt"]);
    expect(String(exportAsl(graph, { layout: true }).Comment).startsWith("@layout ")).toBe(true);
    expect(doc.States.EachItem.Next).toBe("Done");
    expect(doc.States.EachItem.ItemProcessor.StartAt).toBe("NDVI");
    expect(doc.States.EachItem.ItemProcessor.ProcessorConfig).toEqual({ Mode: "INLINE" });
    expect(doc.States.EachItem.ItemProcessor.States.NDVI.End).toBe(true);
    expect(taskAlgorithm(doc.States.EachItem.ItemProcessor.States.NDVI)).toEqual({ name: "ndvi", version: "1.0.0" });
  });

  it("says why a connection is invalid, on the node", () => {
    const flat = mapOverNdvi();
    flat.edges.push({ id: "x", source: "s", target: "m", kind: "next" }); // Succeed leads on
    flat.edges.push({ id: "y", source: "t", target: "s", kind: "next" }); // out of the Map
    const { problems } = fromFlat(flat);
    expect(problems.map((p) => p.node).sort()).toEqual(["s", "t"]);
    expect(problems.find((p) => p.node === "t")!.message).toMatch(/inside its Map/);
    flat.edges = [
      { id: "a", source: "m", target: "s", kind: "next" },
      { id: "b", source: "m", target: "s", kind: "next" },
    ];
    expect(fromFlat(flat).problems.map((p) => p.message)).toEqual(["EachItem has two next states: use a Choice or a Parallel to branch"]);
  });

  it("finds a Parallel's branches from what is connected", () => {
    const flat: Flat = {
      top: { extra: {}, keys: ["StartAt", "States"], startAt: "" },
      starts: {},
      nodes: [
        { id: "p", parent: null, name: "Both", kind: "Parallel", body: {}, keys: [] },
        { id: "a", parent: "p", name: "A", kind: "Pass", body: {}, keys: [], box: { x: 10, y: 0, width: 1, height: 1 } },
        { id: "a2", parent: "p", name: "A2", kind: "Pass", body: {}, keys: [], box: { x: 10, y: 90, width: 1, height: 1 } },
        { id: "b", parent: "p", name: "B", kind: "Pass", body: {}, keys: [], box: { x: 300, y: 0, width: 1, height: 1 } },
      ],
      edges: [{ id: "e", source: "a", target: "a2", kind: "next" }],
    };
    const doc = exportAsl(fromFlat(flat).graph) as any;
    expect(doc.States.Both.Branches.map((b: any) => b.StartAt)).toEqual(["A", "B"]);
    expect(doc.States.Both.Branches[0].States.A.Next).toBe("A2");
  });

  it("fixes a Task's parameters or takes them from the run's input", () => {
    const body = algorithmTask(ndvi);
    expect(taskParameters(body)).toBeNull();
    setTaskParameters(body, { mask_clouds: false });
    expect(taskParameters(body)).toEqual({ mask_clouds: false });
    setTaskParameters(body, null);
    expect(taskParameters(body)).toBeNull();
  });
});

describe("version diffs", () => {
  it("shows what changed between two versions, with context", async () => {
    const { diffLines, changesOnly } = await import("../src/builder/diff");
    const a = ["{", '  "a": 1,', '  "b": 2,', '  "c": 3', "}"].join("\n");
    const b = ["{", '  "a": 1,', '  "b": 5,', '  "c": 3', "}"].join("\n");
    const lines = diffLines(a, b);
    expect(lines.filter((l) => l.op !== " ")).toEqual([
      { op: "-", text: '  "b": 2,' },
      { op: "+", text: '  "b": 5,' },
    ]);
    expect(changesOnly(lines, 0).map((l) => l.op)).toEqual(["-", "+"]);
    expect(changesOnly(diffLines(a, a))).toEqual([]);
  });
});

describe("canonical field order", () => {
  it("puts a stored version's fields back in the order the examples are written", async () => {
    const { canonicalAsl } = await import("../src/builder/model");
    const jsonbOrder = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(jsonbOrder);
      if (v && typeof v === "object") {
        const keys = Object.keys(v).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
        return Object.fromEntries(keys.map((k) => [k, jsonbOrder((v as Record<string, unknown>)[k])]));
      }
      return v;
    };
    const doc = read("ndvi-map.json");
    const stored = jsonbOrder(doc) as Record<string, unknown>;
    expect(JSON.stringify(stored)).not.toBe(JSON.stringify(doc));
    const back = canonicalAsl(stored as never) as any;
    expect(Object.keys(back)).toEqual(Object.keys(doc));
    expect(Object.keys(back.States.EachItem)).toEqual(Object.keys(doc.States.EachItem));
    const task = Object.keys(back.States.EachItem.ItemProcessor.States.NDVI);
    expect([task[0], task[task.length - 1]]).toEqual(["Type", "End"]);
    expect(sameJson(back, doc)).toBe(true);
  });
});

describe("algorithm tasks", () => {
  it("reads the algorithm from a family, a revision or a full task definition ARN", () => {
    const body = algorithmTask({ name: "ndvi", version: "1.0.0", cpu: 1024, memory: 2048 }) as any;
    expect(taskAlgorithm(body)).toEqual({ name: "ndvi", version: "1.0.0" });
    body.Parameters.TaskDefinition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/stacworks-ndvi:7";
    expect(taskAlgorithm(body)?.name).toBe("ndvi");
    body.Resource = "arn:aws:states:::lambda:invoke";
    expect(taskAlgorithm(body)).toBeNull();
  });
});
