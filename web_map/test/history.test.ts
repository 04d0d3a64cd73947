import { describe, expect, it } from "vitest";
import { History } from "../src/builder/history";

describe("builder history", () => {
  it("undoes and redoes edits in order, and a new edit drops what was undone", () => {
    const h = new History();
    h.reset("a");
    expect(h.canUndo).toBe(false);
    h.record("b");
    h.record("b"); // the same document again is no step
    h.record("c");
    expect(h.undo()).toBe("b");
    expect(h.undo()).toBe("a");
    expect(h.undo()).toBeNull();
    expect(h.redo()).toBe("b");
    h.record("d");
    expect(h.canRedo).toBe(false);
    expect(h.undo()).toBe("b");
    expect(h.redo()).toBe("d");
    expect(h.redo()).toBeNull();
  });

  it("keeps at most its limit of steps and forgets on reset", () => {
    const h = new History(3);
    h.reset("0");
    for (const s of ["1", "2", "3", "4"]) h.record(s);
    expect(h.undo()).toBe("3");
    expect(h.undo()).toBe("2");
    expect(h.undo()).toBeNull();
    h.reset("x");
    expect(h.canUndo || h.canRedo).toBe(false);
  });
});
