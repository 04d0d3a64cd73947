/** The selection cart: items the user checked, kept in localStorage so it survives a reload. */

export interface SelectedItem {
  id: string;
  collection: string;
  href: string; // the item's STAC URL
  datetime?: string | null;
  bbox?: number[];
}

/** The few Storage methods the store needs (localStorage, or a Map in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const itemKey = (collection: string, id: string) => `${collection}/${id}`;

export class SelectionStore {
  private items: SelectedItem[];
  private listeners = new Set<(items: SelectedItem[]) => void>();

  constructor(
    private storage: KeyValueStorage,
    private key = "stacworks.selection",
  ) {
    this.items = this.read();
  }

  private read(): SelectedItem[] {
    try {
      const raw = JSON.parse(this.storage.getItem(this.key) ?? "[]");
      return Array.isArray(raw)
        ? raw.filter((i) => i && typeof i.id === "string" && typeof i.collection === "string")
        : [];
    } catch {
      return []; // a corrupt entry must not break the app
    }
  }

  private write(): void {
    this.storage.setItem(this.key, JSON.stringify(this.items));
    for (const fn of this.listeners) fn(this.list());
  }

  list(): SelectedItem[] {
    return [...this.items];
  }

  get size(): number {
    return this.items.length;
  }

  has(collection: string, id: string): boolean {
    const k = itemKey(collection, id);
    return this.items.some((i) => itemKey(i.collection, i.id) === k);
  }

  add(item: SelectedItem): void {
    if (!this.has(item.collection, item.id)) {
      this.items.push(item);
      this.write();
    }
  }

  remove(collection: string, id: string): void {
    const k = itemKey(collection, id);
    const before = this.items.length;
    this.items = this.items.filter((i) => itemKey(i.collection, i.id) !== k);
    if (this.items.length !== before) this.write();
  }

  /** Add or remove; returns whether the item is selected afterwards. */
  toggle(item: SelectedItem, selected?: boolean): boolean {
    const want = selected ?? !this.has(item.collection, item.id);
    if (want) this.add(item);
    else this.remove(item.collection, item.id);
    return want;
  }

  clear(): void {
    this.items = [];
    this.write();
  }

  /** Call ``fn`` on every change; returns the function that unsubscribes. */
  subscribe(fn: (items: SelectedItem[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
