import { describe, expect, it } from "vitest";
import { formatCost, logLines, normalizeJob, resultItems } from "../src/state/jobs";

describe("job status", () => {
  it("reads an OGC status document with per-state counts and cost", () => {
    const job = normalizeJob({
      jobID: "j1",
      processID: "ndvi",
      status: "running",
      progress: 40,
      message: "running",
      states: { Ndvi: { entered: 2, succeeded: 1, failed: 0, running: 1 }, Publish: { entered: 0, succeeded: 0, failed: 0, running: 0 } },
      cost: { usd: 0.00123, task_runs: 2, seconds: 12.4 },
    });
    expect(job).toMatchObject({ id: "j1", processId: "ndvi", status: "running", progress: 40 });
    expect(job.states[0]).toMatchObject({ name: "Ndvi", done: 1, total: 2, progress: 50, status: "running" });
    expect(job.cost).toBe("0.0012 USD, 2 task runs, ~12 s");
  });

  it("maps other status words", () => {
    expect(normalizeJob({ status: "SUCCEEDED" }).status).toBe("successful");
    expect(normalizeJob({ status: "queued" }).status).toBe("accepted");
    expect(normalizeJob({ status: "dismissed" }).status).toBe("dismissed");
    expect(normalizeJob({ status: "failed", states: [{ name: "a", progress: 10 }] }).states).toEqual([{ name: "a", progress: 10, status: undefined, done: undefined, total: undefined }]);
  });

  it("formats an estimate", () => {
    expect(formatCost({ cost_usd: 0.5, task_runs: 3 })).toBe("0.5000 USD, 3 task runs");
    expect(formatCost(2)).toBe("2.00");
  });
});

describe("logs and results", () => {
  it("flattens per-task logs", () => {
    const lines = logLines({
      tasks: [
        { state: "Ndvi", map_index: 0, lines: [{ time: "2024-01-01T10:00:01+00:00", message: "reading" }] },
        { state: "Ndvi", map_index: 1, lines: [{ time: "2024-01-01T10:00:02+00:00", message: "done" }] },
      ],
    });
    expect(lines).toEqual(["10:00:01 [Ndvi#0] reading", "10:00:02 [Ndvi#1] done"]);
    expect(logLines("a\nb\n")).toEqual(["a", "b"]);
    expect(logLines({ logs: ["x"] })).toEqual(["x"]);
  });

  it("finds output items and item links", () => {
    const f = (id: string) => ({ type: "Feature", id, collection: "out" });
    const r = resultItems({ items: { type: "FeatureCollection", features: [f("a"), f("b"), f("a")] }, output: { links: [{ rel: "item", href: "http://x/stac/collections/out/items/c" }] } });
    expect(r.items.map((i) => i.id)).toEqual(["a", "b"]);
    expect(r.hrefs).toEqual(["http://x/stac/collections/out/items/c"]);
  });
});
