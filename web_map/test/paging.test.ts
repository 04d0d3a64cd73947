import { describe, expect, it } from "vitest";
import { Pager } from "../src/state/paging";
import { datetimeInterval, nextLink, normalizeBbox, searchParams } from "../src/api/stac";

describe("token paging", () => {
  it("goes forward through next links and back again", () => {
    const p = new Pager();
    expect(p.page).toBe(0);
    expect(p.start("/search?limit=2")).toBe("/search?limit=2");
    p.next("/search?token=next:b");
    p.next("/search?token=next:c");
    expect(p.page).toBe(3);
    expect(p.prev()).toBe("/search?token=next:b");
    expect(p.prev()).toBe("/search?limit=2");
    expect(p.prev()).toBeNull();
    expect(p.hasPrev).toBe(false);
  });

  it("forgets the pages after the current one when going forward again", () => {
    const p = new Pager();
    p.start("1");
    p.next("2");
    p.next("3");
    p.prev();
    p.next("3b");
    expect(p.current).toBe("3b");
    expect(p.page).toBe(3);
    expect(p.prev()).toBe("2");
  });

  it("a new search starts over", () => {
    const p = new Pager();
    p.start("a");
    p.next("b");
    p.start("x");
    expect(p.page).toBe(1);
    expect(p.hasPrev).toBe(false);
  });

  it("reads the GET next link", () => {
    expect(nextLink({ links: [{ rel: "next", href: "n", method: "POST" }] })).toBeNull();
    expect(nextLink({ links: [{ rel: "self", href: "s" }, { rel: "next", href: "n" }] })).toBe("n");
  });
});

describe("search parameters", () => {
  it("builds bbox, dates, collections, cloud filter and text", () => {
    const p = searchParams({
      bbox: [-94.7, 37.0, -94.4, 37.2],
      from: "2000-02-01",
      to: "2000-02-28",
      collections: ["joplin"],
      maxCloud: 20,
      q: "storm",
      limit: 10,
    });
    expect(p.get("bbox")).toBe("-94.7,37,-94.4,37.2");
    expect(p.get("datetime")).toBe("2000-02-01T00:00:00Z/2000-02-28T23:59:59Z");
    expect(p.get("collections")).toBe("joplin");
    expect(p.get("filter")).toBe("eo:cloud_cover <= 20");
    expect(p.get("filter-lang")).toBe("cql2-text");
    expect(p.get("q")).toBe("storm");
    expect(p.get("limit")).toBe("10");
  });

  it("keeps items without cloud cover when searching every collection", () => {
    const p = searchParams({ maxCloud: 5, cloudKeepsUnknown: true });
    expect(p.get("filter")).toBe("(eo:cloud_cover <= 5 OR eo:cloud_cover IS NULL)");
    expect(searchParams({ maxCloud: null }).has("filter")).toBe(false);
  });

  it("open date ranges", () => {
    expect(datetimeInterval("2020-01-01")).toBe("2020-01-01T00:00:00Z/..");
    expect(datetimeInterval(undefined, "2020-01-31")).toBe("../2020-01-31T23:59:59Z");
    expect(datetimeInterval()).toBeUndefined();
  });

  it("normalises a map extent into a valid bbox", () => {
    expect(normalizeBbox([-200, -95, 200, 95])).toEqual([-180, -90, 180, 90]);
    expect(normalizeBbox([170, 0, 190, 10])).toEqual([-180, 0, 180, 10]);
    expect(normalizeBbox([370, 0, 380, 10])).toEqual([10, 0, 20, 10]);
  });
});
