/**
 * Undo and redo for the builder: snapshots of the document (the ASL with its layout, as
 * stored), one per edit. Whole documents rather than inverse operations: a workflow is a few
 * kilobytes, every edit already produces the document for validation, and restoring one can
 * never disagree with what the canvas shows.
 */
export class History {
  private past: string[] = [];
  private future: string[] = [];

  constructor(private readonly limit = 100) {}

  /** A document opened, imported or started: nothing to undo before it. */
  reset(snapshot: string): void {
    this.past = [snapshot];
    this.future = [];
  }

  /** After an edit: the document as it is now (a repeat of the last one is no step). */
  record(snapshot: string): void {
    if (this.past[this.past.length - 1] === snapshot) return;
    this.past.push(snapshot);
    if (this.past.length > this.limit) this.past.splice(0, this.past.length - this.limit);
    this.future = [];
  }

  get canUndo(): boolean {
    return this.past.length > 1;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  /** The document to show after undoing the last edit, or null. */
  undo(): string | null {
    if (!this.canUndo) return null;
    this.future.push(this.past.pop() as string);
    return this.past[this.past.length - 1];
  }

  /** The document to show after redoing the last undone edit, or null. */
  redo(): string | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push(next);
    return next;
  }
}
