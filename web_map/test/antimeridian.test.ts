import { describe, expect, it } from "vitest";
import { fixRing, unwrap } from "../src/map/antimeridian";

describe("antimeridian fixes for the offline basemap", () => {
  it("continues longitudes past 180 instead of jumping across the map", () => {
    expect(unwrap([[179, 0], [-179, 1], [-178, 0]])).toEqual([[179, 0], [181, 1], [182, 0]]);
    expect(unwrap([[-179, 0], [179, 1]])).toEqual([[-179, 0], [-181, 1]]);
  });

  it("closes a ring that goes round the south pole along the pole", () => {
    const ring = [[-180, -70], [0, -65], [179.9, -70], [-180, -70]];
    const fixed = fixRing(ring);
    expect(fixed.slice(-3)).toEqual([[180, -90], [-180, -90], [-180, -70]]);
  });

  it("leaves ordinary rings alone", () => {
    const ring = [[0, 0], [1, 0], [1, 1], [0, 0]];
    expect(fixRing(ring)).toEqual(ring);
  });
});
