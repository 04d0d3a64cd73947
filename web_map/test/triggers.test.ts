import { describe, expect, it } from "vitest";
import { bboxPolygon, cronEvery, describeBudget, describeTrigger, subscriptionFromSearch } from "../src/panels/triggers";

describe("subscriptions from the map search", () => {
  const opts = { source: "catalog", workflow: "ndvi", per: "item" as const, everyMinutes: 15, windowDays: 3 };

  it("takes the area, collection and cloud limit on screen", () => {
    const doc = subscriptionFromSearch({ collection: "sentinel-2-l2a", maxCloud: "20" }, [5, 45, 5.2, 45.2], opts);
    expect(doc).toEqual({
      source: "catalog", collection: "sentinel-2-l2a", cron: "*/15 * * * *", per: "item", workflow_id: "ndvi",
      search: { intersects: bboxPolygon([5, 45, 5.2, 45.2]), window: "P3D", filter: "eo:cloud_cover < 20" },
    });
  });

  it("leaves out what is not set and refuses without a collection", () => {
    const doc = subscriptionFromSearch({ collection: "c", maxCloud: "" }, [0, 0, 1, 1], { ...opts, workflow: "", everyMinutes: 1440 });
    expect(doc.workflow_id).toBeUndefined();
    expect((doc.search as Record<string, unknown>).filter).toBeUndefined();
    expect(doc.cron).toBe("0 6 * * *");
    expect(() => subscriptionFromSearch({ collection: "", maxCloud: "" }, [0, 0, 1, 1], opts)).toThrow(/collection/);
  });

  it("polls on whole hours and describes triggers", () => {
    expect(cronEvery(60)).toBe("0 */1 * * *");
    expect(bboxPolygon([0, 1, 2, 3]).coordinates[0]).toHaveLength(5);
    expect(describeTrigger({ id: "s", kind: "subscription", paused: false, collection: "c", source: "catalog", cron: "*/15 * * * *", workflow_id: null }))
      .toBe("c from catalog (*/15 * * * *) ingests");
    expect(describeTrigger({ id: "w", kind: "watch", paused: false, collection: "c", workflow_id: "ndvi" })).toBe("each new item in c runs ndvi");
  });

  it("says where a budget stands", () => {
    const b = { workflow_id: "ndvi", month: "2026-12", spent_usd: 0.123, soft_usd: 4, hard_usd: 5 };
    expect(describeBudget(b)).toBe("$0.12 of $5.00 (hard limit) in 2026-12");
    expect(describeBudget({ ...b, hard_usd: null })).toBe("$0.12 of $4.00 (soft limit) in 2026-12");
    expect(describeBudget({ ...b, hard_usd: null, soft_usd: null })).toBe("$0.12 spent in 2026-12, no budget set");
  });
});
