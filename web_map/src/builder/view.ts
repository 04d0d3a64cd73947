/**
 * The Workflows view: palette, canvas, the selected state's form, live ASL validated by the
 * server, versions with diffs, save / save as / delete, run on the map's selection, runs drawn
 * on the graph.
 */

import "./builder.css";
import type { App } from "../app";
import { HttpError } from "../api/http";
import { addJobLayer } from "../panels/jobs";
import { FINISHED } from "../state/jobs";
import { h } from "../ui/dom";
import { BuilderApi, type Issue, type RunSummary, type TaskLog, type WorkflowDoc } from "./api";
import { Canvas, type NodeData } from "./canvas";
import { changesOnly, diffLines } from "./diff";
import { History } from "./history";
import { autoLayout } from "./layout";
import { AslError, canonicalAsl, type Flat, type FlowGraph, type JsonObject, type Problem, type StateKind, exportAsl, fromFlat, importAsl, toFlat } from "./model";
import { type Algorithm, algorithmTask, controlBody } from "./states";
import { renderInspector } from "./inspector";

const CONTROL_KINDS: { kind: StateKind; hint: string }[] = [
  { kind: "Map", hint: "Run the states inside once per item (of the selection, or a JSON path), some at once." },
  { kind: "Parallel", hint: "Run each chain inside at the same time." },
  { kind: "Choice", hint: "Go one way or another depending on an output value." },
  { kind: "Wait", hint: "Pause for some seconds." },
  { kind: "Pass", hint: "Reshape the data passed on." },
  { kind: "Succeed", hint: "End here, successfully." },
  { kind: "Fail", hint: "End here with an error." },
];
const ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const VALIDATE_DELAY_MS = 250;
const RUN_POLL_MS = 1000;

const EMPTY: JsonObject = { StartAt: "", States: {} };

function download(name: string, text: string): void {
  const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

const usd = (n: number) => (n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);

export class BuilderView {
  private api: BuilderApi;
  private canvas: Canvas;
  private algorithms: Algorithm[] = [];
  private versionsCache = new Map<string, Promise<Algorithm[]>>();
  /** The stored version being edited (null: a new workflow). */
  private current: WorkflowDoc | null = null;
  private dirty = false;
  /** Whether the document shown came with its layout (then export keeps it). */
  private hadLayout = false;
  private graph: FlowGraph | null = null;
  private problems: Problem[] = [];
  private issues: Issue[] = [];
  private validated = false;
  private selectedId: string | null = null;
  private timer: number | undefined;
  private validation = 0;
  private run: { id: string; timer?: number; states: Record<string, Record<string, number>>; status: string } | null = null;
  private history = new History();
  private restoring = false;
  private undoButton = h("button", { type: "button", "data-testid": "builder-undo", title: "Undo (Ctrl+Z)", disabled: true }, "Undo");
  private redoButton = h("button", { type: "button", "data-testid": "builder-redo", title: "Redo (Ctrl+Shift+Z or Ctrl+Y)", disabled: true }, "Redo");

  private picker = h("select", { "data-testid": "builder-workflow-select", "aria-label": "Workflow" });
  private idInput = h("input", { type: "text", "data-testid": "builder-id", placeholder: "workflow-id", "aria-label": "Workflow id", pattern: ID.source });
  private titleInput = h("input", { type: "text", "data-testid": "builder-title", placeholder: "Title", "aria-label": "Title" });
  private saveButton = h("button", { type: "button", class: "primary", "data-testid": "builder-save", disabled: true }, "Save version");
  private saveAsInput = h("input", { type: "text", "data-testid": "builder-save-as-id", placeholder: "copy-id", "aria-label": "Id of the copy" });
  private saveAsButton = h("button", { type: "button", "data-testid": "builder-save-as" }, "Save as…");
  private deleteButton = h("button", { type: "button", class: "danger", "data-testid": "builder-delete", disabled: true }, "Delete");
  private runButton = h("button", { type: "button", class: "primary", "data-testid": "builder-run", disabled: true }, "Run on selection");
  private estimateButton = h("button", { type: "button", "data-testid": "builder-estimate", disabled: true }, "Estimate cost");
  private cost = h("span", { class: "muted", "data-testid": "builder-cost" });
  private importInput = h("input", { type: "file", accept: ".json,application/json", "data-testid": "builder-import", "aria-label": "Import an ASL file" });
  private exportButton = h("button", { type: "button", "data-testid": "builder-export" }, "Export ASL");
  private message = h("p", { class: "builder-message", role: "status", "data-testid": "builder-message" });
  private palette = h("div", { class: "builder-palette", "data-testid": "builder-palette" });
  private canvasEl = h("div", { class: "builder-canvas", "data-testid": "builder-canvas" });
  private inspector = h("div", { class: "builder-inspector", "data-testid": "builder-inspector" });
  private asl = h("pre", { class: "builder-asl", "data-testid": "builder-asl", "data-valid": "unknown" });
  private issueList = h("ul", { class: "builder-issues", "data-testid": "builder-issues" });
  private versionList = h("ul", { class: "builder-versions", "data-testid": "builder-versions" });
  private diffView = h("pre", { class: "builder-diff", "data-testid": "builder-diff", hidden: true });
  private runList = h("ul", { class: "builder-runs", "data-testid": "builder-runs" });

  constructor(private app: App, root: HTMLElement) {
    this.api = new BuilderApi(app.jobs.processesBase.replace(/\/processes$/, ""));
    const toolbar = h(
      "div", { class: "builder-toolbar" },
      this.picker,
      h("button", { type: "button", "data-testid": "builder-new", onclick: () => this.newWorkflow() }, "New"),
      this.idInput, this.titleInput, this.saveButton,
      h("span", { class: "sep" }),
      this.saveAsInput, this.saveAsButton, this.deleteButton,
      h("span", { class: "sep" }),
      h("label", { class: "file-button" }, "Import ASL", this.importInput), this.exportButton,
      h("button", { type: "button", "data-testid": "builder-tidy", title: "Lay the states out again", onclick: () => this.tidy() }, "Tidy up"),
      this.undoButton, this.redoButton,
      h("span", { class: "sep" }),
      this.estimateButton, this.cost, this.runButton,
    );
    const side = h(
      "aside", { class: "builder-side" },
      h("section", {}, h("h2", {}, "State"), this.inspector),
      h("section", {}, h("h2", {}, "ASL ", h("small", { class: "muted" }, "(live, validated by the server)")), this.issueList, this.asl),
      h("section", {}, h("h2", {}, "Versions"), this.versionList, this.diffView),
      h("section", {}, h("h2", {}, "Runs"), this.runList),
    );
    root.append(toolbar, this.message, h("div", { class: "builder-body" }, this.palette, this.canvasEl, side));
    // X6 sizes its container itself: give it a box inside the grid cell, not the cell
    const surface = h("div", { class: "builder-surface" });
    this.canvasEl.append(surface);
    this.canvas = new Canvas(surface, { changed: () => this.edited(), selected: (id) => this.select(id) });

    this.picker.addEventListener("change", () => void (this.picker.value ? this.open(this.picker.value) : this.newWorkflow()));
    this.saveButton.addEventListener("click", () => void this.save());
    this.saveAsButton.addEventListener("click", () => void this.saveAs());
    this.deleteButton.addEventListener("click", () => void this.remove());
    this.runButton.addEventListener("click", () => void this.runOnSelection());
    this.estimateButton.addEventListener("click", () => void this.estimate());
    this.exportButton.addEventListener("click", () => this.exportFile());
    this.importInput.addEventListener("change", () => void this.importFile());
    this.idInput.addEventListener("input", () => this.updateButtons());
    this.titleInput.addEventListener("input", () => {
      this.dirty = true;
      this.updateButtons();
    });
    app.selection.subscribe(() => this.updateButtons());
    this.undoButton.addEventListener("click", () => this.step(this.history.undo()));
    this.redoButton.addEventListener("click", () => this.step(this.history.redo()));
    this.canvasEl.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
      if ((e.key === "Delete" || e.key === "Backspace") && this.selectedId) this.canvas.remove(this.selectedId);
      const key = e.key.toLowerCase();
      if ((e.ctrlKey || e.metaKey) && (key === "z" || key === "y")) {
        e.preventDefault();
        this.step(key === "y" || e.shiftKey ? this.history.redo() : this.history.undo());
      }
    });
    this.canvasEl.tabIndex = 0;
    this.newWorkflow();
    void this.loadPalette();
    void this.loadPicker();
  }

  private say(text: string, kind: "info" | "error" = "info"): void {
    this.message.textContent = text;
    this.message.className = `builder-message ${kind}`;
  }

  // -- palette -------------------------------------------------------------------------------

  private async loadPalette(): Promise<void> {
    // the control states first: they need no server
    const algorithms = h("div", { class: "palette-algorithms" }, h("p", { class: "muted" }, "loading algorithms…"));
    const controls: HTMLElement[] = [h("h2", {}, "Control")];
    for (const c of CONTROL_KINDS) {
      const item = h("div", { class: `palette-item control kind-${c.kind.toLowerCase()}`, "data-testid": "builder-palette-item", "data-kind": c.kind, title: c.hint }, h("b", {}, c.kind), h("small", {}, c.hint));
      this.paletteItem(item, c.kind, c.kind === "Map" ? "EachItem" : c.kind, () => controlBody(c.kind));
      controls.push(item);
    }
    // Controls above the algorithms: a fixed, short list that stays put when (many) algorithms
    // arrive, so nothing moves under the user's pointer while the list loads.
    this.palette.removeAttribute("data-loaded");
    this.palette.replaceChildren(...controls, h("h2", {}, "Algorithms"), algorithms);
    const items: HTMLElement[] = [];
    try {
      this.algorithms = await this.api.algorithms();
    } catch (e) {
      items.push(h("p", { class: "muted" }, e instanceof HttpError && e.status === 401 ? "Sign in to see the algorithms." : `Algorithms could not be read: ${(e as Error).message}`));
    }
    if (!this.algorithms.length && !items.length) items.push(h("p", { class: "muted" }, "No algorithm is registered (stacworks algorithm register FILE)."));
    for (const a of this.algorithms) {
      const cost = h("span", { class: "cost" });
      const item = h(
        "div",
        { class: "palette-item algorithm", "data-testid": "builder-palette-item", "data-kind": "Task", "data-algorithm": a.name, title: a.description ?? "" },
        h("b", {}, a.title ?? a.name),
        h("small", {}, `${a.name} ${a.version} · ${a.cpu / 1024} vCPU · ${a.memory / 1024} GB`),
        cost,
      );
      this.paletteItem(item, "Task", a.name.replace(/[^A-Za-z0-9]/g, "_").toUpperCase(), () => algorithmTask(a));
      items.push(item);
      this.api.estimate(`algorithm:${a.name}`, 1).then(
        (est) => (cost.textContent = `≈ ${usd(est.cost_usd)} per item`),
        () => (cost.textContent = ""),
      );
    }
    algorithms.replaceChildren(...items);
    this.palette.setAttribute("data-loaded", "true");
  }

  /** Drag the item onto the canvas; or focus it and press Enter to add it (into the selected
   * Map or Parallel, if one is selected). */
  private paletteItem(item: HTMLElement, kind: StateKind, name: string, body: () => JsonObject): void {
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    item.setAttribute("aria-label", `Add a ${kind} state${item.dataset.algorithm ? ` running ${item.dataset.algorithm}` : ""}`);
    item.addEventListener("mousedown", (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      this.canvas.startDrag(this.canvas.template(kind, name, body()), e);
    });
    item.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      const id = this.canvas.place(this.canvas.template(kind, name, body()), this.selectedId);
      this.select(id);
    });
  }

  /** Lay the whole graph out again (dagre), keeping what it says. */
  private tidy(): void {
    const { graph } = fromFlat(this.canvas.flat());
    autoLayout(graph);
    this.canvas.load(toFlat(graph), true);
    this.select(null); // the states have new ids
    this.edited();
  }

  private versionsOf(name: string): Promise<Algorithm[]> {
    let found = this.versionsCache.get(name);
    if (!found) {
      found = this.api.algorithmVersions(name);
      this.versionsCache.set(name, found);
    }
    return found;
  }

  // -- documents -----------------------------------------------------------------------------

  private async loadPicker(select?: string): Promise<void> {
    try {
      const list = await this.api.workflows();
      this.picker.replaceChildren(
        h("option", { value: "" }, "New workflow"),
        ...list.map((w) => h("option", { value: w.id, selected: w.id === (select ?? this.current?.id) }, `${w.title ?? w.id} (v${w.version})`)),
      );
    } catch (e) {
      this.picker.replaceChildren(h("option", { value: "" }, "New workflow"));
      this.say(`Workflows could not be listed: ${(e as Error).message}`, "error");
    }
  }

  /** Show a definition: its stored layout, else one computed now. */
  private show(definition: unknown): void {
    const { graph, laidOut } = importAsl(definition);
    if (!laidOut) autoLayout(graph);
    this.say("");
    this.hadLayout = laidOut;
    this.stopRun();
    this.selectedId = null;
    this.inspector.replaceChildren(h("p", { class: "muted" }, "Click a state to edit it; drag one in from the palette."));
    const dangling = this.canvas.load(toFlat(graph), laidOut);
    this.edited(false);
    if (dangling.length) {
      const names = dangling.map((e) => `${e.source.split("/").pop()} → ${e.target.split("/").pop()}`).join(", ");
      this.say(`Transitions to states that do not exist were left out: ${names}. Connect those states again.`, "error");
    }
  }

  private newWorkflow(): void {
    this.current = null;
    this.picker.value = "";
    this.idInput.value = "";
    this.idInput.disabled = false;
    this.titleInput.value = "";
    this.versionList.replaceChildren();
    this.runList.replaceChildren();
    this.diffView.hidden = true;
    this.show(EMPTY);
    this.dirty = false;
    this.updateButtons();
  }

  async open(id: string, version?: number): Promise<void> {
    try {
      const doc = await this.api.workflow(id, version);
      this.current = doc;
      this.picker.value = id;
      this.idInput.value = doc.id;
      this.idInput.disabled = true;
      this.titleInput.value = doc.title ?? "";
      this.show(canonicalAsl(doc.definition));
      this.dirty = false;
      if (!this.message.classList.contains("error")) this.say(`${doc.title ?? doc.id}: version ${doc.version}.`);
      this.updateButtons();
      void this.loadVersions();
      void this.loadRuns();
    } catch (e) {
      this.say(`Workflow ${id} could not be opened: ${(e as Error).message}`, "error");
    }
  }

  private async importFile(): Promise<void> {
    const file = this.importInput.files?.[0];
    if (!file) return;
    try {
      const text = await file.text();
      this.newWorkflow();
      this.show(text);
      const base = file.name.replace(/\.json$/i, "").toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z0-9]+/, "");
      this.idInput.value = base.slice(0, 63);
      this.dirty = true;
      if (!this.message.classList.contains("error")) this.say(`Imported ${file.name}${this.hadLayout ? "" : " (laid out automatically)"}.`);
    } catch (e) {
      this.say(e instanceof AslError ? `${file.name} is not a state machine: ${e.message}` : `${file.name} could not be read: ${(e as Error).message}`, "error");
    } finally {
      this.importInput.value = "";
      this.updateButtons();
    }
  }

  /** The document as it would be stored (layout in the Comment) or exported (layout only when
   * it came with one or a person placed the states). */
  private document(forStorage: boolean): JsonObject {
    if (!this.graph) return EMPTY;
    return exportAsl(this.graph, { layout: forStorage || this.hadLayout || this.canvas.moved });
  }

  private exportFile(): void {
    const doc = this.document(false);
    download(`${this.idInput.value || "workflow"}.asl.json`, `${JSON.stringify(doc, null, 2)}\n`);
    this.say("Exported: the file runs as is on the executor and on Step Functions.");
  }

  // -- editing and validation ----------------------------------------------------------------

  private edited(byUser = true): void {
    if (byUser) {
      this.dirty = true;
      if (this.run) this.stopRun();
    }
    const flat = this.canvas.flat();
    const { graph, problems } = fromFlat(flat);
    this.graph = graph;
    this.problems = problems;
    this.canvas.settle({ ...flat.top, startAt: graph.startAt }, startsOf(graph, flat));
    this.validated = false;
    if (!this.restoring) {
      const snapshot = JSON.stringify(this.document(true));
      if (byUser) this.history.record(snapshot);
      else this.history.reset(snapshot);
    }
    this.asl.textContent = JSON.stringify(this.document(false), null, 2);
    this.asl.dataset.valid = "pending";
    this.decorate();
    this.updateButtons();
    if (this.selectedId && byUser) this.refreshInspectorTitle();
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.validate(), VALIDATE_DELAY_MS);
  }

  /** Show a document from the history (undo/redo): an edit like any other, not recorded. */
  private step(snapshot: string | null): void {
    if (snapshot === null) return;
    const { graph } = importAsl(JSON.parse(snapshot));
    this.restoring = true;
    try {
      this.canvas.load(toFlat(graph), this.canvas.moved);
      this.select(null); // the states have new ids
      this.edited();
    } finally {
      this.restoring = false;
    }
  }

  private async validate(): Promise<void> {
    const ticket = ++this.validation;
    if (!this.graph || !this.graph.nodes.length) {
      this.issues = [];
      this.validated = false;
      this.showIssues();
      return;
    }
    try {
      const result = await this.api.validate(this.document(true));
      if (ticket !== this.validation) return;
      this.issues = result.errors;
      this.validated = true;
    } catch (e) {
      if (ticket !== this.validation) return;
      this.issues = [{ code: "UNAVAILABLE", message: `the validator could not be reached: ${(e as Error).message}`, state: null, field: null, pointer: "" }];
      this.validated = false;
    }
    this.showIssues();
    this.decorate();
    this.updateButtons();
  }

  private showIssues(): void {
    const ours = this.problems.map((p) => `${this.canvas.data(p.node)?.name ?? p.node}: ${p.message}`);
    const theirs = this.issues.map((i) => `${i.state ?? "workflow"}${i.field ? `.${i.field}` : ""}: ${i.message} [${i.code}]`);
    const all = [...ours, ...theirs];
    this.issueList.replaceChildren(...all.map((t) => h("li", { class: "error" }, t)));
    const empty = !this.graph?.nodes.length;
    this.asl.dataset.valid = empty ? "empty" : all.length ? "false" : this.validated ? "true" : "pending";
  }

  /** Problems and run states onto the nodes. */
  private decorate(): void {
    const byName = new Map<string, string[]>();
    for (const i of this.issues) if (i.state) byName.set(i.state, [...(byName.get(i.state) ?? []), `${i.field ? `${i.field}: ` : ""}${i.message}`]);
    const flat = this.run ? this.canvas.flat() : null;
    this.canvas.decorate((id, d) => ({
      problems: [...this.problems.filter((p) => p.node === id).map((p) => p.message), ...(byName.get(d.name) ?? [])],
      run: this.run && flat ? runState(d, this.run.states, this.run.status, flat, id) : null,
      selected: id === this.selectedId,
    }));
  }

  private canSave(): boolean {
    return !!this.graph?.nodes.length && !this.problems.length && this.validated && !this.issues.length && ID.test(this.idInput.value);
  }

  private updateButtons(): void {
    this.saveButton.disabled = !this.canSave() || (!this.dirty && !!this.current);
    this.saveButton.title = this.canSave() ? "" : "Fix the errors shown on the states (and give the workflow an id) to save.";
    this.deleteButton.disabled = !this.current;
    this.saveAsButton.disabled = !this.current && !this.canSave();
    const n = this.app.selection.size;
    const runnable = !!this.current && !this.dirty;
    this.runButton.disabled = !runnable || n === 0;
    this.runButton.textContent = n ? `Run on ${n} selected item${n === 1 ? "" : "s"}` : "Run on selection (select items on the map)";
    this.runButton.title = runnable ? "" : "Save the workflow to run it.";
    this.estimateButton.disabled = !runnable;
    this.undoButton.disabled = !this.history.canUndo;
    this.redoButton.disabled = !this.history.canRedo;
  }

  private select(id: string | null): void {
    this.selectedId = id;
    this.decorate();
    if (!id) {
      this.inspector.replaceChildren(h("p", { class: "muted" }, "Click a state to edit it; drag one in from the palette."));
      return;
    }
    if (this.run) {
      void this.showNodeRun(id);
      return;
    }
    const data = this.canvas.data(id);
    if (!data) return;
    renderInspector(this.inspector, id, data, {
      apply: (patch) => this.canvas.patch(id, patch),
      remove: () => {
        this.canvas.remove(id);
        this.select(null);
      },
      versions: (name) => this.versionsOf(name),
      nameTaken: (name) => this.canvas.graph.getNodes().some((n) => String(n.id) !== id && n.getData<NodeData>().name === name),
    });
  }

  private refreshInspectorTitle(): void {
    if (this.selectedId && !this.canvas.node(this.selectedId)) this.select(null);
  }

  // -- storing -------------------------------------------------------------------------------

  private async save(): Promise<void> {
    if (!this.canSave()) {
      this.say("This workflow has errors (see the states marked in red): it cannot be saved.", "error");
      return;
    }
    const definition = this.document(true);
    const title = this.titleInput.value.trim() || null;
    this.saveButton.disabled = true;
    try {
      const saved = this.current
        ? await this.api.update(this.current.id, {
            definition, title, description: this.current.description ?? "",
            output_collection: this.current.output_collection ?? null, renders: this.current.renders ?? {}, parameters: this.current.parameters ?? { type: "object" },
          })
        : await this.api.create({ id: this.idInput.value, title, definition });
      this.current = saved;
      this.dirty = false;
      this.hadLayout = true;
      this.idInput.disabled = true;
      this.say(`Saved ${saved.id} version ${saved.version}.`);
      await this.loadPicker(saved.id);
      void this.loadVersions();
      void this.loadRuns();
    } catch (e) {
      this.say(`Not saved: ${(e as Error).message}`, "error");
    } finally {
      this.updateButtons();
    }
  }

  /** A copy under a new id: the stored version as it is, or what is on the canvas. */
  private async saveAs(): Promise<void> {
    const id = this.saveAsInput.value.trim();
    if (!ID.test(id)) {
      this.say("The copy needs an id: lower-case letters, digits, - and _.", "error");
      return;
    }
    try {
      if (this.current && !this.dirty) await this.api.duplicate(this.current.id, id);
      else if (this.canSave()) {
        await this.api.create({ id, title: this.titleInput.value.trim() || null, definition: this.document(true), parameters: this.current?.parameters ?? { type: "object" } });
      } else {
        this.say("This workflow has errors: fix them before saving a copy.", "error");
        return;
      }
      this.saveAsInput.value = "";
      await this.loadPicker(id);
      await this.open(id);
      this.say(`Saved a copy as ${id}: you are editing the copy.`);
    } catch (e) {
      this.say(`No copy saved: ${(e as Error).message}`, "error");
    }
  }

  private async remove(): Promise<void> {
    if (!this.current) return;
    if (this.deleteButton.dataset.confirm !== "yes") {
      this.deleteButton.dataset.confirm = "yes";
      this.deleteButton.textContent = `Delete ${this.current.id}? Click again`;
      window.setTimeout(() => {
        delete this.deleteButton.dataset.confirm;
        this.deleteButton.textContent = "Delete";
      }, 4000);
      return;
    }
    const id = this.current.id;
    try {
      await this.api.remove(id);
      this.newWorkflow();
      this.say(`Deleted ${id} (its runs and outputs keep the versions they used).`);
      await this.loadPicker();
    } catch (e) {
      this.say(`Not deleted: ${(e as Error).message}`, "error");
    } finally {
      delete this.deleteButton.dataset.confirm;
      this.deleteButton.textContent = "Delete";
    }
  }

  private async loadVersions(): Promise<void> {
    if (!this.current) return;
    const id = this.current.id;
    try {
      const versions = await this.api.versions(id);
      const text = (v: WorkflowDoc) => JSON.stringify(canonicalAsl(v.definition), null, 2);
      this.versionList.replaceChildren(
        ...versions.reverse().map((v, i, all) => {
          const older = all[i + 1];
          const open = h("button", { type: "button", "data-testid": "builder-version-open" }, "Open");
          open.addEventListener("click", () => void this.open(id, v.version));
          const diff = h("button", { type: "button", "data-testid": "builder-version-diff", disabled: !older }, older ? `Diff with v${older.version}` : "first");
          diff.addEventListener("click", () => {
            if (!older) return;
            const lines = changesOnly(diffLines(text(older), text(v)));
            this.diffView.hidden = false;
            this.diffView.replaceChildren(
              h("b", {}, `v${older.version} → v${v.version}`), "\n",
              ...(lines.length ? lines.map((l) => h("span", { class: `diff-${l.op === "+" ? "add" : l.op === "-" ? "del" : "same"}` }, `${l.op} ${l.text}\n`)) : ["no change in the ASL\n"]),
            );
          });
          return h("li", { "data-testid": "builder-version", "data-version": v.version, class: v.version === this.current?.version ? "current" : "" }, h("span", {}, `v${v.version} ${v.title ?? ""}`), open, diff);
        }),
      );
    } catch (e) {
      this.versionList.replaceChildren(h("li", { class: "error" }, `Versions could not be read: ${(e as Error).message}`));
    }
  }

  // -- running -------------------------------------------------------------------------------

  private async estimate(): Promise<void> {
    if (!this.current) return;
    const n = Math.max(1, this.app.selection.size);
    try {
      const est = await this.api.estimate(this.current.id, n);
      this.cost.textContent = `≈ ${usd(est.cost_usd)} for ${n} item${n === 1 ? "" : "s"} (${est.task_runs} task runs, Fargate prices)`;
    } catch (e) {
      this.cost.textContent = `No estimate: ${(e as Error).message}`;
    }
  }

  private async runOnSelection(): Promise<void> {
    if (!this.current || this.dirty) return;
    const items = this.app.selection.list().map((i) => ({ collection: i.collection, id: i.id, href: i.href }));
    this.runButton.disabled = true;
    try {
      const job = await this.app.jobs.execute(this.current.id, { inputs: { items, parameters: {} } });
      this.say(`Run ${job.id} started on ${items.length} item${items.length === 1 ? "" : "s"}.`);
      this.app.status(`${this.current.title ?? this.current.id}: job ${job.id} started.`);
      void this.estimate();
      await this.loadRuns();
      this.watchRun(job.id, true);
    } catch (e) {
      this.say(`The run did not start: ${(e as Error).message}`, "error");
    } finally {
      this.updateButtons();
    }
  }

  private async loadRuns(): Promise<void> {
    if (!this.current) return;
    try {
      const runs = await this.api.runs(this.current.id);
      this.runList.replaceChildren(...(runs.length ? runs.map((r) => this.runItem(r)) : [h("li", { class: "muted" }, "No runs yet.")]));
    } catch (e) {
      this.runList.replaceChildren(h("li", { class: "error" }, `Runs could not be read: ${(e as Error).message}`));
    }
  }

  private runItem(r: RunSummary): HTMLElement {
    const show = h("button", { type: "button", "data-testid": "builder-run-show" }, "Show on graph");
    show.addEventListener("click", () => void this.showRunOf(r));
    return h(
      "li", { "data-testid": "builder-run-item", "data-job-id": r.jobID, "data-status": r.status, class: this.run?.id === r.jobID ? "current" : "" },
      h("span", { class: `run-status ${r.status}` }, r.status), " ", h("code", {}, r.jobID.slice(0, 8)),
      " ", h("small", { class: "muted" }, `v${r.workflow?.version ?? "?"} · ${(r.created ?? "").slice(0, 19).replace("T", " ")}`), " ", show,
    );
  }

  /** A run of another version is drawn on that version's graph. */
  private async showRunOf(r: RunSummary): Promise<void> {
    if (this.current && r.workflow && r.workflow.version !== this.current.version) await this.open(this.current.id, r.workflow.version);
    this.watchRun(r.jobID, false);
  }

  private watchRun(jobId: string, addLayer: boolean): void {
    this.stopRun();
    this.run = { id: jobId, states: {}, status: "accepted" };
    this.canvasEl.dataset.run = jobId;
    const poll = async () => {
      if (this.run?.id !== jobId) return;
      try {
        const job = await this.api.run(jobId);
        if (this.run?.id !== jobId) return;
        this.run.states = (job.states ?? {}) as Record<string, Record<string, number>>;
        this.run.status = String(job.status);
        this.canvasEl.dataset.runStatus = this.run.status;
        this.decorate();
        if (FINISHED.has(this.run.status)) {
          void this.loadRuns();
          this.say(`Run ${jobId}: ${this.run.status}${job.message && job.message !== job.status ? ` (${String(job.message)})` : ""}.`, this.run.status === "successful" ? "info" : "error");
          if (addLayer && this.run.status === "successful") await addJobLayer(this.app, jobId, this.current?.title ?? this.current?.id ?? "Workflow", false);
          return;
        }
      } catch (e) {
        this.say(`Run ${jobId} could not be read: ${(e as Error).message}`, "error");
      }
      if (this.run?.id === jobId) this.run.timer = window.setTimeout(() => void poll(), RUN_POLL_MS);
    };
    void poll();
  }

  private stopRun(): void {
    if (this.run?.timer) window.clearTimeout(this.run.timer);
    this.run = null;
    delete this.canvasEl.dataset.run;
    delete this.canvasEl.dataset.runStatus;
    this.decorate();
  }

  /** A state's task runs in the selected run: status, logs, outputs. */
  private async showNodeRun(id: string): Promise<void> {
    const run = this.run;
    const d = this.canvas.data(id);
    if (!run || !d) return;
    const close = h("button", { type: "button", "data-testid": "builder-run-close" }, "Back to editing");
    close.addEventListener("click", () => {
      this.stopRun();
      this.select(id);
    });
    this.inspector.replaceChildren(h("h3", {}, `${d.name} in run ${run.id.slice(0, 8)}`), close, h("p", { class: "muted" }, "Loading…"));
    try {
      const [tasks, events] = await Promise.all([this.api.logs(run.id), this.api.history(run.id)]);
      const mine = tasks.filter((t) => t.state === d.name);
      const outputs = events.filter((e) => e.state_name === d.name && String(e.type).endsWith("StateExited")).map((e) => (e.details as JsonObject)?.output);
      this.inspector.replaceChildren(
        h("h3", {}, `${d.name} in run ${run.id.slice(0, 8)}`), close,
        h("div", { "data-testid": "builder-node-logs" },
          mine.length ? mine.map(taskView) : h("p", { class: "muted" }, d.kind === "Task" ? "This state has not run." : "Not a task: see its output below."),
          h("h4", {}, "Output"),
          outputs.length ? outputs.slice(-3).map((o) => h("pre", { class: "output" }, JSON.stringify(o, null, 2).slice(0, 4000))) : h("p", { class: "muted" }, "none yet"),
        ),
      );
    } catch (e) {
      this.inspector.append(h("p", { class: "error" }, `Logs could not be read: ${(e as Error).message}`));
    }
  }
}

function taskView(t: TaskLog): HTMLElement {
  const head = `${t.map_index !== null ? `item ${t.map_index}: ` : ""}${t.status}${t.exit_code !== null ? ` (exit ${t.exit_code})` : ""}${t.duration_seconds !== null ? ` · ${t.duration_seconds.toFixed(1)} s` : ""}${t.cost_usd !== null ? ` · ${usd(t.cost_usd)}` : ""}`;
  return h("div", { class: "task-run" }, h("b", {}, head), t.error ? h("p", { class: "error" }, `${t.error}: ${t.cause ?? ""}`) : null, h("pre", { class: "logs" }, t.lines.slice(-60).map((l) => l.message).join("\n") || "(no log lines)"));
}

/** Each Map/Parallel's inner starts (by canvas id), from the graph the model settled on. */
function startsOf(graph: FlowGraph, flat: Flat): Flat["starts"] {
  const idOf = new Map(flat.nodes.map((n) => [n.name, n.id]));
  const starts: Flat["starts"] = {};
  const visit = (g: FlowGraph) => {
    for (const n of g.nodes) {
      const id = idOf.get(n.name);
      if (n.inner && id) {
        starts[id] = [n.inner.startAt];
        visit(n.inner);
      }
      if (n.branches && id) {
        starts[id] = n.branches.map((b) => b.startAt);
        n.branches.forEach(visit);
      }
    }
  };
  visit(graph);
  return starts;
}

/** How a state fared in a run: its status, and for a Map how many items are done. */
function runState(d: NodeData, states: Record<string, Record<string, number>>, jobStatus: string, flat: Flat, id: string): NodeData["run"] {
  const s = states[d.name];
  let status = "waiting";
  if (s) status = s.failed ? "failed" : s.running ? "running" : s.succeeded ? "succeeded" : "running";
  else if (FINISHED.has(jobStatus)) status = "skipped";
  if (d.kind !== "Map") return { status };
  const inner = flat.nodes.filter((n) => n.parent === id);
  const start = inner.find((n) => states[n.name]);
  const counts = start ? states[start.name] : undefined;
  return { status, done: counts?.succeeded ?? 0, total: counts?.entered ?? 0 };
}
