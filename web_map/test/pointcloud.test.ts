import { describe, expect, it } from "vitest";
import { copcAsset } from "../src/pointcloud/asset";
import { CLASS_COLORS, OTHER_CLASS, colorize, formatHasRgb, rampColor, rgbDivisor, robustRange } from "../src/pointcloud/colors";
import { loadNodes, pagesToLoad, parentKey, parseKey, selectNodes } from "../src/pointcloud/lod";

/** A full octree over ``levels`` levels (8 children per node) of ``per`` points per node. */
function octree(levels: number, per: number): Record<string, { pointCount: number }> {
  const nodes: Record<string, { pointCount: number }> = {};
  for (let d = 0; d < levels; d++) {
    const n = 2 ** d;
    for (let x = 0; x < n; x++) for (let y = 0; y < n; y++) for (let z = 0; z < n; z++) nodes[`${d}-${x}-${y}-${z}`] = { pointCount: per };
  }
  return nodes;
}

describe("level of detail", () => {
  it("parses keys and finds parents", () => {
    expect(parseKey("3-5-2-7")).toEqual([3, 5, 2, 7]);
    expect(parentKey("3-5-2-7")).toBe("2-2-1-3");
    expect(parentKey("0-0-0-0")).toBeNull();
    expect(() => parseKey("1-2-3")).toThrow();
    expect(() => parseKey("a-0-0-0")).toThrow();
  });

  it("takes whole levels, coarsest first, while they fit", () => {
    const s = selectNodes(octree(3, 100), 100 + 800);
    expect(s.keys[0]).toBe("0-0-0-0");
    expect(s.keys).toHaveLength(9);
    expect(s.keys.slice(1).every((k) => k.startsWith("1-"))).toBe(true);
    expect(s).toMatchObject({ points: 900, depth: 1, truncated: true });
  });

  it("fills the first level that does not fit with its densest nodes, then stops", () => {
    const nodes = { "0-0-0-0": { pointCount: 10 }, "1-0-0-0": { pointCount: 5 }, "1-1-0-0": { pointCount: 40 }, "1-0-1-0": { pointCount: 20 }, "2-2-0-0": { pointCount: 1 } };
    const s = selectNodes(nodes, 60);
    expect(s.keys).toEqual(["0-0-0-0", "1-0-0-0", "1-1-0-0"]); // 40 then 5 (20 no longer fits), loaded in key order
    expect(s).toMatchObject({ points: 55, depth: 1, truncated: true });
  });

  it("never takes a node whose parent is missing", () => {
    const nodes = { "0-0-0-0": { pointCount: 10 }, "2-3-3-3": { pointCount: 1 }, "1-0-0-0": { pointCount: 1 } };
    expect(selectNodes(nodes, 1000).keys).toEqual(["0-0-0-0", "1-0-0-0"]);
  });

  it("takes everything when the budget allows, and honours a depth limit", () => {
    const all = selectNodes(octree(3, 10), 1e9);
    expect(all).toMatchObject({ points: 730, depth: 2, truncated: false });
    expect(selectNodes(octree(3, 10), 1e9, 1)).toMatchObject({ points: 90, depth: 1, truncated: true });
    expect(selectNodes({}, 100)).toMatchObject({ keys: [], points: 0, depth: -1 });
    expect(selectNodes(octree(2, 10), 5)).toMatchObject({ keys: [], truncated: true }); // even the root is too big
  });

  it("reads a hierarchy page only below a selected node and while budget is left", () => {
    const nodes = { "0-0-0-0": { pointCount: 10 }, "1-0-0-0": { pointCount: 10 } };
    const pages = { "2-0-0-0": {}, "2-3-3-3": {}, "1-1-1-1": {} };
    const sel = selectNodes(nodes, 100);
    expect(pagesToLoad(pages, new Set(), sel, 100)).toEqual(["1-1-1-1", "2-0-0-0"]);
    expect(pagesToLoad(pages, new Set(["2-0-0-0"]), sel, 100)).toEqual(["1-1-1-1"]);
    expect(pagesToLoad(pages, new Set(), sel, 20)).toEqual([]);
  });
});

describe("colours", () => {
  it("ramps from dark blue to yellow and clamps", () => {
    expect(rampColor(0)).toEqual([68, 1, 84]);
    expect(rampColor(1)).toEqual([253, 231, 37]);
    expect(rampColor(-3)).toEqual(rampColor(0));
    expect(rampColor(7)).toEqual(rampColor(1));
    expect(rampColor(Number.NaN)).toEqual(rampColor(0));
    expect(rampColor(0.125)).toEqual([64, 42, 112]); // halfway between the first two stops
  });

  it("finds a range that outliers do not squash", () => {
    const z = Array.from({ length: 100 }, (_, i) => i);
    z.push(1e6); // one noise point far above
    const [lo, hi] = robustRange(z);
    expect(lo).toBe(2);
    expect(hi).toBeLessThan(100);
    expect(robustRange([])).toEqual([0, 1]);
    expect(robustRange([5, 5, 5])).toEqual([5, 6]);
  });

  it("colours by elevation, class, RGB (8 or 16 bits) and intensity", () => {
    const points = {
      count: 2,
      z: new Float64Array([0, 10]),
      intensity: new Uint16Array([0, 1000]),
      classification: new Uint8Array([2, 77]),
      rgb: new Uint16Array([65535, 0, 257, 0, 65535, 0]),
    };
    const ctx = { zRange: [0, 10] as [number, number], intensityRange: [0, 1000] as [number, number], rgbDivisor: rgbDivisor(65535) };
    expect(Array.from(colorize(points, "elevation", ctx))).toEqual([...rampColor(0), ...rampColor(1)]);
    expect(Array.from(colorize(points, "classification", ctx))).toEqual([...CLASS_COLORS[2], ...OTHER_CLASS]);
    expect(Array.from(colorize(points, "rgb", ctx))).toEqual([255, 0, 1, 0, 255, 0]);
    expect(Array.from(colorize(points, "intensity", ctx))).toEqual([40, 40, 40, 255, 255, 255]);
    expect(rgbDivisor(255)).toBe(1);
    expect(Array.from(colorize({ ...points, rgb: undefined }, "rgb", ctx))).toEqual([128, 128, 128, 128, 128, 128]);
    expect(formatHasRgb(7)).toBe(true);
    expect(formatHasRgb(6)).toBe(false);
  });
});

describe("which asset the 3D view opens", () => {
  it("finds the COPC by media type, else by name", () => {
    const href = "http://127.0.0.1:8000/assets/lidar/autzen/data";
    expect(copcAsset({ assets: { thumb: { href: "t.png", type: "image/png" }, data: { href, type: "application/vnd.laszip+copc" } } })).toEqual(["data", href]);
    expect(copcAsset({ assets: { pc: { href: "s3://b/x.copc.laz" } } })).toEqual(["pc", "s3://b/x.copc.laz"]);
    expect(copcAsset({ assets: { laz: { href: "x.laz", type: "application/vnd.laszip" } } })).toBeNull();
    expect(copcAsset({ assets: {} })).toBeNull();
  });
});

describe("node loading", () => {
  /** A fetch whose answers come back after ``delays[key]`` ms. */
  const slowFetch = (delays: Record<string, number>, started: string[]) => (key: string) => {
    started.push(key);
    return new Promise<string>((resolve) => setTimeout(() => resolve(key), delays[key] ?? 0));
  };

  it("adds the coarsest node first even when it answers last", async () => {
    const keys = ["0-0-0-0", "1-0-0-0", "1-1-0-0", "1-0-1-0", "1-1-1-1"];
    const started: string[] = [];
    const added: string[] = [];
    await loadNodes(keys, slowFetch({ "0-0-0-0": 30 }, started), (k) => added.push(k), 4);
    expect(added[0]).toBe("0-0-0-0"); // the colour ranges come from an even sample
    expect(new Set(added)).toEqual(new Set(keys));
    expect(added).toHaveLength(keys.length);
  });

  it("keeps several requests in flight after the first, and stops when stale", async () => {
    const keys = ["0-0-0-0", "1-0-0-0", "1-1-0-0", "1-0-1-0", "1-1-1-1"];
    let inFlight = 0;
    let most = 0;
    const fetch = async (key: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return key;
    };
    const added: string[] = [];
    await loadNodes(keys, fetch, (k) => added.push(k), 3);
    expect(most).toBe(3);
    expect(added).toHaveLength(5);

    const none: string[] = [];
    await loadNodes(keys, fetch, (k) => none.push(k), 3, () => true);
    expect(none).toEqual([]);
    await loadNodes([], fetch, (k) => none.push(k), 3);
    expect(none).toEqual([]);
  });
});
