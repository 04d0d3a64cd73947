import { describe, expect, it } from "vitest";
import { decodeView, encodeView } from "../src/state/url";

describe("view state in the URL", () => {
  it("round-trips centre, zoom, dates, layers and search", () => {
    const view = {
      center: [-94.51234567, 37.0712345] as [number, number],
      zoom: 11.234,
      from: "2000-02-01",
      to: "2000-02-28",
      layers: ["collection:joplin", "job:abc-1"],
      collection: "joplin",
      q: "storm damage",
    };
    const query = encodeView(view);
    expect(query).toContain("c=-94.51235,37.07123");
    expect(query).toContain("layers=collection:joplin,job:abc-1");
    expect(decodeView(query)).toEqual({ ...view, center: [-94.51235, 37.07123], zoom: 11.23 });
  });

  it("leaves out what is empty", () => {
    expect(encodeView({ center: [0, 0], zoom: 2, layers: [] })).toBe("c=0,0&z=2");
  });

  it("ignores malformed values and clamps the rest", () => {
    expect(decodeView("?c=abc,1&z=x&from=2020-13&to=yesterday&layers=")).toEqual({});
    expect(decodeView("c=200,95&z=40")).toEqual({ center: [180, 85], zoom: 22 });
  });

  it("accepts a leading question mark and keeps ids with slashes", () => {
    const v = decodeView("?layers=item:joplin/abc,collection:x");
    expect(v.layers).toEqual(["item:joplin/abc", "collection:x"]);
  });
});
