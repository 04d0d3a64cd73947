/**
 * The editing canvas, on AntV X6.
 *
 * Why X6: it is framework-free TypeScript (no React/Vue to add to a vanilla vite app), actively
 * maintained, and has what a state machine editor needs built in: nested nodes (a Map or a
 * Parallel holds its states: X6 "embedding"), ports and validated connections, drag and drop
 * from a palette (its Dnd plugin), panning and zoom. Drawflow has no nesting; React Flow would
 * bring React for one view. Nodes are HTML (X6's HTML shape) so they carry data-testids, error
 * badges and run progress like the rest of the app.
 *
 * The canvas only holds cells; what they mean is model.ts's (read back with `flat()`).
 */

import { Dnd, Graph, type Edge, type Node, Shape } from "@antv/x6";
import { CONTAINER_PAD, NODE_SIZE } from "./layout";
import type { Box, EdgeKind, Flat, FlatEdge, FlatNode, JsonObject, StateKind } from "./model";
import { catcher, choiceRule, taskAlgorithm } from "./states";

const SHAPE = "asl-state";
const CONTAINERS: ReadonlySet<StateKind> = new Set(["Map", "Parallel"]);
const CONTAINER_SIZE = { width: 300, height: 170 };

/** What a node's cell carries besides its position. */
export interface NodeData {
  name: string;
  kind: StateKind;
  body: JsonObject;
  keys: string[];
  innerKey?: FlatNode["innerKey"];
  scopes?: FlatNode["scopes"];
  /** Problems to show on the node (ours and the validator's). */
  problems?: string[];
  /** The selected run's view of this state. */
  run?: { status: string; done?: number; total?: number } | null;
  selected?: boolean;
}

interface EdgeData {
  kind: EdgeKind;
  index?: number;
}

const PORT_ATTRS = { circle: { r: 6, magnet: true, stroke: "#1f57b0", strokeWidth: 2, fill: "#fff" } };
const PORT_GROUPS = {
  in: { position: "top", attrs: PORT_ATTRS },
  out: { position: "bottom", attrs: PORT_ATTRS },
  err: { position: "right", attrs: { circle: { ...PORT_ATTRS.circle, stroke: "#a33a00" } } },
};

/** Which ports a state has: in; out unless it ends the workflow; catch or default on the side. */
function portsOf(kind: StateKind): { id: string; group: string }[] {
  const ports = [{ id: "in", group: "in" }];
  if (kind === "Succeed" || kind === "Fail") return ports;
  ports.push({ id: "out", group: "out" });
  if (kind === "Task" || kind === "Map" || kind === "Parallel") ports.push({ id: "catch", group: "err" });
  if (kind === "Choice") ports.push({ id: "default", group: "err" });
  return ports;
}

function subtitle(d: NodeData): string {
  const b = d.body;
  switch (d.kind) {
    case "Task": {
      const a = taskAlgorithm(b);
      return a ? `${a.name}${a.version ? ` ${a.version}` : ""}` : String(b.Resource ?? "");
    }
    case "Map":
      return `over ${String(b.ItemsPath ?? "$")}${b.MaxConcurrency ? ` · ${String(b.MaxConcurrency)} at once` : ""}`;
    case "Wait":
      return b.Seconds !== undefined ? `${String(b.Seconds)} s` : String(b.SecondsPath ?? b.Timestamp ?? b.TimestampPath ?? "");
    case "Fail":
      return String(b.Error ?? "");
    case "Choice":
      return `${Array.isArray(b.Choices) ? b.Choices.length : 0} rule(s)`;
    default:
      return "";
  }
}

function renderNode(cell: Node): HTMLElement {
  const d = cell.getData<NodeData>();
  const el = document.createElement("div");
  const problems = d.problems ?? [];
  el.className = `bnode kind-${d.kind.toLowerCase()}${CONTAINERS.has(d.kind) ? " container" : ""}${problems.length ? " has-error" : ""}${d.run ? ` run-${d.run.status}` : ""}${d.selected ? " selected" : ""}`;
  el.dataset.testid = "builder-node";
  el.dataset.state = d.name;
  el.dataset.kind = d.kind;
  el.dataset.nodeId = String(cell.id);
  if (d.run) el.dataset.runStatus = d.run.status;
  const head = document.createElement("div");
  head.className = "bnode-head";
  const kind = document.createElement("span");
  kind.className = "bnode-kind";
  kind.textContent = d.kind;
  const name = document.createElement("b");
  name.textContent = d.name;
  head.append(kind, name);
  el.append(head);
  const sub = subtitle(d);
  if (sub) {
    const s = document.createElement("div");
    s.className = "bnode-sub";
    s.textContent = sub;
    el.append(s);
  }
  if (d.run) {
    const r = document.createElement("div");
    r.className = "bnode-run";
    r.dataset.testid = "builder-node-run";
    r.textContent = d.run.total !== undefined ? `${d.run.status} · ${d.run.done ?? 0}/${d.run.total}` : d.run.status;
    el.append(r);
  }
  if (problems.length) {
    const p = document.createElement("div");
    p.className = "bnode-error";
    p.dataset.testid = "builder-node-error";
    p.title = problems.join("\n");
    p.textContent = `⚠ ${problems[0]}${problems.length > 1 ? ` (+${problems.length - 1})` : ""}`;
    el.append(p);
  }
  return el;
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  Shape.HTML.register({ shape: SHAPE, width: NODE_SIZE.width, height: NODE_SIZE.height, effect: ["data"], html: (cell) => renderNode(cell as Node) });
}

function edgeLabel(kind: EdgeKind, rule: unknown): string {
  if (kind === "default") return "default";
  if (kind === "catch") {
    const errors = (rule as { ErrorEquals?: string[] } | undefined)?.ErrorEquals;
    return `catch ${errors?.join(", ") ?? ""}`.trim();
  }
  if (kind === "choice" && rule && typeof rule === "object") {
    const r = rule as Record<string, unknown>;
    const op = Object.keys(r).find((k) => k !== "Variable" && k !== "Next");
    return r.Variable && op ? `${String(r.Variable)} ${op} ${JSON.stringify(r[op])}` : "rule";
  }
  return "";
}

export interface CanvasEvents {
  /** The graph changed (a node added, moved, connected, removed, renamed). */
  changed(): void;
  /** A node was clicked (null: the blank canvas). */
  selected(id: string | null): void;
}

export class Canvas {
  readonly graph: Graph;
  private dnd: Dnd;
  private loading = false;
  /** Top-level fields and Map/Parallel starts as last loaded, carried through edits. */
  private top: Flat["top"] = { extra: {}, keys: ["Comment", "StartAt", "States"], startAt: "" };
  private starts: Flat["starts"] = {};
  /** Whether positions were set by a person (then they are saved in the Comment). */
  moved = false;

  constructor(container: HTMLElement, private events: CanvasEvents) {
    register();
    this.graph = new Graph({
      container,
      autoResize: true,
      async: false, // a workflow has tens of states: draw them at once (and tests see them)
      grid: { visible: true, size: 10 },
      panning: { enabled: true, eventTypes: ["leftMouseDown"] },
      mousewheel: { enabled: true, modifiers: ["ctrl", "meta"] },
      background: { color: "#f7f8fa" },
      embedding: {
        enabled: true,
        findParent: "bbox",
        validate: ({ parent, child }) => CONTAINERS.has(parent.getData<NodeData>()?.kind) && parent !== child,
      },
      connecting: {
        snap: { radius: 30 },
        allowBlank: false,
        allowLoop: false,
        allowEdge: false,
        allowNode: false,
        allowMulti: true,
        highlight: true,
        router: "normal",
        connector: { name: "rounded" },
        createEdge: () => this.newEdge("next"),
        validateMagnet: ({ magnet }) => !magnet.closest('[port-group="in"]') && magnet.getAttribute("port-group") !== "in",
        validateConnection: ({ targetPort, sourceCell, targetCell }) => targetPort === "in" && sourceCell !== targetCell,
      },
      highlighting: {
        magnetAdsorbed: { name: "stroke", args: { attrs: { stroke: "#f5a623", strokeWidth: 3 } } },
        embedding: { name: "stroke", args: { padding: -1, attrs: { stroke: "#f5a623", strokeWidth: 3 } } },
      },
    });
    this.dnd = new Dnd({
      target: this.graph,
      scaled: false,
      getDropNode: (dragging) => {
        const node = dragging.clone();
        const data = dragging.getData<NodeData>();
        node.setData({ ...structuredClone(data), name: this.uniqueName(data.name) }, { overwrite: true });
        return node;
      },
    });
    const g = this.graph;
    g.on("edge:connected", ({ edge, isNew }) => {
      if (isNew) this.classify(edge);
      this.updated();
    });
    g.on("edge:removed", ({ cell }) => {
      this.dropRule(cell as Edge);
      this.updated();
    });
    g.on("node:added", ({ node }) => {
      this.moved = true;
      this.fitParent(node);
      this.updated();
    });
    g.on("node:removed", () => this.updated());
    g.on("node:moved", ({ node }) => {
      this.moved = true;
      this.fitParent(node);
      this.updated();
    });
    g.on("node:change:parent", ({ node }) => {
      this.fitParent(node);
      this.updated();
    });
    // a connection is removed with the button shown on it while the pointer is over it
    g.on("edge:mouseenter", ({ edge }) => edge.addTools([{ name: "button-remove", args: { distance: "50%" } }]));
    g.on("edge:mouseleave", ({ edge }) => edge.removeTools());
    g.on("node:click", ({ node }) => this.events.selected(String(node.id)));
    g.on("blank:click", () => this.events.selected(null));
  }

  private updated(): void {
    if (!this.loading) this.events.changed();
  }

  private newEdge(kind: EdgeKind, index?: number, label = ""): Edge {
    return this.graph.createEdge({
      shape: "edge",
      zIndex: 20,
      data: { kind, index } satisfies EdgeData,
      attrs: {
        line: {
          stroke: kind === "catch" ? "#a33a00" : kind === "default" ? "#5b6472" : "#1f57b0",
          strokeWidth: 2,
          strokeDasharray: kind === "catch" || kind === "default" ? "5 3" : undefined,
          targetMarker: { name: "block", width: 8, height: 6 },
          "data-testid": "builder-edge",
          "data-kind": kind,
        },
      },
      labels: label ? [{ attrs: { label: { text: label, fontSize: 11, fill: "#33415a" } } }] : [],
    });
  }

  /** A new edge's meaning, from the port it leaves: a Choice rule, a Default, a Catcher, Next. */
  private classify(edge: Edge): void {
    const source = edge.getSourceNode();
    if (!source) return;
    const d = source.getData<NodeData>();
    const port = edge.getSourcePortId();
    let kind: EdgeKind = "next";
    let index: number | undefined;
    const body = structuredClone(d.body);
    if (port === "catch") {
      kind = "catch";
      const list = Array.isArray(body.Catch) ? body.Catch : [];
      index = list.length;
      list.push(catcher());
      body.Catch = list;
    } else if (port === "default") {
      kind = "default";
    } else if (d.kind === "Choice") {
      kind = "choice";
      const list = Array.isArray(body.Choices) ? body.Choices : [];
      index = list.length;
      list.push(choiceRule());
      body.Choices = list;
    }
    source.setData({ ...d, body }, { overwrite: true });
    const list = kind === "catch" ? body.Catch : body.Choices;
    const rule = Array.isArray(list) && index !== undefined ? list[index] : undefined;
    const styled = this.newEdge(kind, index);
    edge.setData({ kind, index } satisfies EdgeData, { overwrite: true });
    edge.setAttrs(styled.getAttrs());
    edge.setLabels(kind === "next" ? [] : [{ attrs: { label: { text: edgeLabel(kind, rule), fontSize: 11, fill: "#33415a" } } }]);
  }

  /** A removed Choice rule or Catcher edge takes its rule with it; later rules move up. */
  private dropRule(edge: Edge): void {
    const data = edge.getData<EdgeData>();
    if (!data || (data.kind !== "choice" && data.kind !== "catch") || data.index === undefined) return;
    const sourceId = (edge.getSource() as { cell?: string }).cell;
    const source = sourceId ? this.graph.getCellById(sourceId) : null;
    if (!source || !source.isNode()) return;
    const d = source.getData<NodeData>();
    const field = data.kind === "choice" ? "Choices" : "Catch";
    const body = structuredClone(d.body);
    const list = body[field];
    if (!Array.isArray(list)) return;
    list.splice(data.index, 1);
    if (!list.length && field === "Catch") delete body.Catch;
    source.setData({ ...d, body }, { overwrite: true });
    for (const e of this.graph.getConnectedEdges(source, { outgoing: true })) {
      const ed = e.getData<EdgeData>();
      if (ed?.kind === data.kind && ed.index !== undefined && ed.index > data.index) e.setData({ ...ed, index: ed.index - 1 }, { overwrite: true });
    }
  }

  /** Grow a Map or Parallel round its states (never shrink it under its title). */
  private fitParent(node: Node): void {
    const parent = node.getParent();
    if (!parent || !parent.isNode()) return;
    const before = parent.getBBox();
    const children = parent.getChildren()?.filter((c) => c.isNode()) as Node[] | undefined;
    if (!children?.length) return;
    const boxes = children.map((c) => c.getBBox());
    const x0 = Math.min(before.x, ...boxes.map((b) => b.x - CONTAINER_PAD.side));
    const y0 = Math.min(before.y, ...boxes.map((b) => b.y - CONTAINER_PAD.top));
    const x1 = Math.max(before.x + before.width, ...boxes.map((b) => b.x + b.width + CONTAINER_PAD.side));
    const y1 = Math.max(before.y + before.height, ...boxes.map((b) => b.y + b.height + CONTAINER_PAD.bottom));
    if (x0 !== before.x || y0 !== before.y || x1 - x0 !== before.width || y1 - y0 !== before.height) {
      parent.setPosition(x0, y0, { deep: false });
      parent.resize(x1 - x0, y1 - y0);
      this.fitParent(parent);
    }
  }

  /** A state name not used yet: `base`, `base2`, ... */
  uniqueName(base: string): string {
    const taken = new Set(this.graph.getNodes().map((n) => n.getData<NodeData>()?.name));
    const clean = base.replace(/[^A-Za-z0-9_-]+/g, "") || "State";
    if (!taken.has(clean)) return clean;
    let i = 2;
    while (taken.has(`${clean}${i}`)) i++;
    return `${clean}${i}`;
  }

  /** A node to drag from the palette (dropped as a copy with a fresh name). */
  template(kind: StateKind, name: string, body: JsonObject): Node {
    const size = CONTAINERS.has(kind) ? CONTAINER_SIZE : NODE_SIZE;
    const data: NodeData = { name, kind, body, keys: [] };
    return this.graph.createNode({ shape: SHAPE, ...size, zIndex: CONTAINERS.has(kind) ? 1 : 5, data, ports: { groups: PORT_GROUPS, items: portsOf(kind) } });
  }

  startDrag(node: Node, evt: MouseEvent): void {
    this.dnd.start(node, evt);
  }

  /** Add a palette state without the mouse: into `parentId` (a Map or Parallel) or below
   * everything at the top level. Returns the new node's id. */
  place(template: Node, parentId: string | null): string {
    const node = template.clone();
    const data = template.getData<NodeData>();
    node.setData({ ...structuredClone(data), name: this.uniqueName(data.name) }, { overwrite: true });
    const parent = parentId ? this.node(parentId) : null;
    const container = parent && CONTAINERS.has(parent.getData<NodeData>().kind) ? parent : null;
    const siblings = (container ? container.getChildren() ?? [] : this.graph.getNodes().filter((n) => !n.getParent())).filter((c) => c.isNode()) as Node[];
    const below = siblings.length ? Math.max(...siblings.map((n) => n.getBBox().y + n.getBBox().height)) + 40 : container ? container.getBBox().y + CONTAINER_PAD.top : 40;
    const left = container ? container.getBBox().x + CONTAINER_PAD.side : siblings.length ? Math.min(...siblings.map((n) => n.getBBox().x)) : 40;
    node.setPosition(left, below);
    if (container) node.setZIndex((container.getZIndex() ?? 1) + 4);
    this.graph.addNode(node);
    if (container) container.addChild(node);
    this.fitParent(node);
    return String(node.id);
  }

  /** Show a graph (flat form, boxes relative to their container); returns the transitions
   * that name no state (they cannot be drawn, and are left out). */
  load(flat: Flat, moved = false): FlatEdge[] {
    const dangling: FlatEdge[] = [];
    this.loading = true;
    try {
      this.graph.clearCells();
      this.top = structuredClone(flat.top);
      this.starts = structuredClone(flat.starts);
      const abs = new Map<string, { x: number; y: number }>();
      const depth = (n: FlatNode): number => (n.parent ? 1 + depth(flat.nodes.find((p) => p.id === n.parent)!) : 0);
      for (const n of flat.nodes) {
        const parent = n.parent ? abs.get(n.parent) : { x: 0, y: 0 };
        const box: Box = n.box ?? { x: 0, y: 0, ...(CONTAINERS.has(n.kind) ? CONTAINER_SIZE : NODE_SIZE) };
        const at = { x: (parent?.x ?? 0) + box.x, y: (parent?.y ?? 0) + box.y };
        abs.set(n.id, at);
        const data: NodeData = { name: n.name, kind: n.kind, body: n.body, keys: n.keys, innerKey: n.innerKey, scopes: n.scopes };
        const node = this.graph.addNode({
          id: n.id, shape: SHAPE, x: at.x, y: at.y, width: box.width, height: box.height,
          zIndex: CONTAINERS.has(n.kind) ? 1 + 2 * depth(n) : 5 + 2 * depth(n), data,
          ports: { groups: PORT_GROUPS, items: portsOf(n.kind) },
        });
        if (n.parent) this.graph.getCellById(n.parent)?.addChild(node);
      }
      for (const e of flat.edges) {
        const source = flat.nodes.find((n) => n.id === e.source);
        if (!source || !flat.nodes.some((n) => n.id === e.target)) {
          dangling.push(e);
          continue;
        }
        const list = e.kind === "choice" ? source.body.Choices : e.kind === "catch" ? source.body.Catch : undefined;
        const rule = Array.isArray(list) && e.index !== undefined ? list[e.index] : undefined;
        const edge = this.newEdge(e.kind, e.index, edgeLabel(e.kind, rule));
        const port = e.kind === "catch" ? "catch" : e.kind === "default" ? "default" : "out";
        edge.setSource({ cell: e.source, port });
        edge.setTarget({ cell: e.target, port: "in" });
        this.graph.addEdge(edge);
      }
      this.moved = moved;
    } finally {
      this.loading = false;
    }
    this.graph.zoomToFit({ padding: 30, maxScale: 1 });
    return dangling;
  }

  /** What the canvas holds, in the model's flat form (boxes relative to their container). */
  flat(): Flat {
    const nodes: FlatNode[] = this.graph.getNodes().map((node) => {
      const d = node.getData<NodeData>();
      const parent = node.getParent();
      const b = node.getBBox();
      const p = parent?.isNode() ? parent.getBBox() : { x: 0, y: 0 };
      return {
        id: String(node.id), parent: parent?.isNode() ? String(parent.id) : null,
        name: d.name, kind: d.kind, body: structuredClone(d.body), keys: d.keys ?? [],
        box: { x: Math.round(b.x - p.x), y: Math.round(b.y - p.y), width: Math.round(b.width), height: Math.round(b.height) },
        innerKey: d.innerKey, scopes: d.scopes,
      };
    });
    const edges: FlatEdge[] = this.graph.getEdges().flatMap((e) => {
      const source = (e.getSource() as { cell?: string }).cell;
      const target = (e.getTarget() as { cell?: string }).cell;
      const d = e.getData<EdgeData>() ?? { kind: "next" };
      return source && target ? [{ id: String(e.id), source: String(source), target: String(target), kind: d.kind, index: d.index }] : [];
    });
    return { nodes, edges, top: structuredClone(this.top), starts: structuredClone(this.starts) };
  }

  /** Remember the starts the model settled on (so a tie keeps the same start). */
  settle(top: Flat["top"], starts: Flat["starts"]): void {
    this.top = top;
    this.starts = starts;
  }

  node(id: string): Node | null {
    const cell = this.graph.getCellById(id);
    return cell?.isNode() ? cell : null;
  }

  data(id: string): NodeData | null {
    return this.node(id)?.getData<NodeData>() ?? null;
  }

  /** Change a node's data (name, body, problems, run): redrawn, and `changed` for edits. */
  patch(id: string, patch: Partial<NodeData>, { edit = true } = {}): void {
    const node = this.node(id);
    if (!node) return;
    const loading = this.loading;
    this.loading = !edit;
    node.setData({ ...node.getData<NodeData>(), ...patch }, { overwrite: true });
    this.loading = loading;
    if (edit) {
      for (const e of this.graph.getConnectedEdges(node, { outgoing: true })) {
        const d = e.getData<EdgeData>();
        if (d?.kind !== "choice" && d?.kind !== "catch") continue;
        const list = (patch.body ?? node.getData<NodeData>().body)[d.kind === "choice" ? "Choices" : "Catch"];
        const rule = Array.isArray(list) && d.index !== undefined ? list[d.index] : undefined;
        e.setLabels([{ attrs: { label: { text: edgeLabel(d.kind, rule), fontSize: 11, fill: "#33415a" } } }]);
      }
      this.updated();
    }
  }

  /** Show problems and run states on the nodes without counting it as an edit. */
  decorate(fn: (id: string, data: NodeData) => Partial<NodeData>): void {
    for (const node of this.graph.getNodes()) {
      const d = node.getData<NodeData>();
      const patch = fn(String(node.id), d);
      const changed = Object.entries(patch).some(([k, v]) => JSON.stringify(v) !== JSON.stringify(d[k as keyof NodeData]));
      if (changed) this.patch(String(node.id), patch, { edit: false });
    }
  }

  remove(id: string): void {
    const node = this.node(id);
    if (node) this.graph.removeCell(node);
  }

  dispose(): void {
    this.graph.dispose();
  }
}
