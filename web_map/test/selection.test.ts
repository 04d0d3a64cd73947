import { describe, expect, it, vi } from "vitest";
import { type KeyValueStorage, SelectionStore } from "../src/state/selection";

class MemoryStorage implements KeyValueStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
}

const item = (id: string, collection = "joplin") => ({ id, collection, href: `http://x/stac/collections/${collection}/items/${id}` });

describe("the selection cart", () => {
  it("adds once, removes, toggles and clears", () => {
    const s = new SelectionStore(new MemoryStorage());
    s.add(item("a"));
    s.add(item("a"));
    s.add(item("a", "other")); // same id, other collection: a different item
    expect(s.size).toBe(2);
    expect(s.toggle(item("b"))).toBe(true);
    expect(s.toggle(item("b"))).toBe(false);
    s.remove("joplin", "a");
    expect(s.list().map((i) => `${i.collection}/${i.id}`)).toEqual(["other/a"]);
    s.clear();
    expect(s.size).toBe(0);
  });

  it("survives a reload (a new store on the same storage)", () => {
    const storage = new MemoryStorage();
    const first = new SelectionStore(storage);
    first.add(item("a"));
    first.add(item("b"));
    const second = new SelectionStore(storage);
    expect(second.list().map((i) => i.id)).toEqual(["a", "b"]);
    expect(second.has("joplin", "b")).toBe(true);
  });

  it("tells subscribers, and stops when they unsubscribe", () => {
    const s = new SelectionStore(new MemoryStorage());
    const fn = vi.fn();
    const off = s.subscribe(fn);
    s.add(item("a"));
    s.toggle(item("a"), true); // no change: no call
    off();
    s.clear();
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("starts empty on corrupt or foreign data", () => {
    const storage = new MemoryStorage();
    storage.setItem("stacworks.selection", "{not json");
    expect(new SelectionStore(storage).size).toBe(0);
    storage.setItem("stacworks.selection", JSON.stringify([{ id: 1 }, item("ok"), null]));
    expect(new SelectionStore(storage).list().map((i) => i.id)).toEqual(["ok"]);
  });
});
