/**
 * Graph ⇄ Amazon States Language, with no UI library in it (unit-tested on its own).
 *
 * A state machine becomes a graph: one node per state, one edge per transition (Next, Default,
 * a Choice rule's Next, a Catcher's Next). A Map node holds its item processor as an inner
 * graph, a Parallel node one inner graph per branch. Everything else a state says is kept
 * verbatim in the node's `body` (with the order of its keys), so an imported document exports
 * as it came in. Positions live in the top-level `Comment`, after a `@layout` marker, so the
 * document stays plain ASL (Step Functions and asl-validator accept it) and still round-trips.
 */

export type StateKind = "Task" | "Map" | "Parallel" | "Choice" | "Wait" | "Pass" | "Succeed" | "Fail";
export const STATE_KINDS: StateKind[] = ["Task", "Map", "Parallel", "Choice", "Wait", "Pass", "Succeed", "Fail"];
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A nested state machine: a Map's item processor, a Parallel branch, or the document. */
export interface FlowGraph {
  startAt: string;
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** Every field but StartAt and States (Comment, ProcessorConfig, QueryLanguage, ...). */
  extra: JsonObject;
  /** The fields' order as imported (StartAt and States included). */
  keys: string[];
}

export interface FlowNode {
  /** The state's name (unique in the state machine). */
  name: string;
  kind: StateKind;
  /** Every field but Type, the transitions and the nested graphs. */
  body: JsonObject;
  keys: string[];
  /** Position and size relative to the enclosing Map/Parallel (or the canvas). */
  box?: Box;
  /** Map: its item processor and the field that holds it (ItemProcessor, or the older Iterator). */
  inner?: FlowGraph;
  innerKey?: "ItemProcessor" | "Iterator";
  /** Parallel: its branches. */
  branches?: FlowGraph[];
}

/** next: Next (or End when absent); default: a Choice's Default; choice: Choices[index].Next;
 * catch: Catch[index].Next. */
export type EdgeKind = "next" | "default" | "choice" | "catch";

export interface FlowEdge {
  source: string;
  target: string;
  kind: EdgeKind;
  index?: number;
}

export const LAYOUT_MARK = "@layout ";
const TRANSITIONS = new Set(["Type", "Next", "End", "Default"]);

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** `obj` with its keys in `keys`' order first (new keys after them, transitions last). */
function ordered(obj: JsonObject, keys: string[]): JsonObject {
  const out: JsonObject = {};
  if ("Type" in obj && !keys.includes("Type")) out.Type = obj.Type;
  for (const k of keys) if (k in obj) out[k] = obj[k];
  for (const k of Object.keys(obj)) if (!(k in out) && !TRANSITIONS.has(k)) out[k] = obj[k];
  for (const k of ["Next", "End", "Default"]) if (k in obj && !(k in out)) out[k] = obj[k];
  return out;
}

// -- import ----------------------------------------------------------------------------------

export class AslError extends Error {}

function graphFrom(doc: unknown, where: string): FlowGraph {
  if (!isObject(doc) || typeof doc.StartAt !== "string" || !isObject(doc.States)) {
    throw new AslError(`${where}: not a state machine (it needs StartAt and States)`);
  }
  const extra: JsonObject = {};
  for (const [k, v] of Object.entries(doc)) if (k !== "StartAt" && k !== "States") extra[k] = clone(v);
  const graph: FlowGraph = { startAt: doc.StartAt, nodes: [], edges: [], extra, keys: Object.keys(doc) };
  for (const [name, raw] of Object.entries(doc.States)) {
    if (!isObject(raw)) throw new AslError(`${where}.States.${name}: a state is an object`);
    const kind = raw.Type as StateKind;
    if (!STATE_KINDS.includes(kind)) throw new AslError(`${where}.States.${name}.Type: unknown type ${JSON.stringify(raw.Type)}`);
    const body: JsonObject = {};
    const node: FlowNode = { name, kind, body, keys: Object.keys(raw) };
    for (const [k, v] of Object.entries(raw)) {
      if (TRANSITIONS.has(k)) continue;
      if (kind === "Map" && (k === "ItemProcessor" || k === "Iterator")) {
        node.inner = graphFrom(v, `${where}.States.${name}.${k}`);
        node.innerKey = k;
      } else if (kind === "Parallel" && k === "Branches" && Array.isArray(v)) {
        node.branches = v.map((b, i) => graphFrom(b, `${where}.States.${name}.Branches[${i}]`));
      } else {
        body[k] = clone(v);
      }
    }
    if (typeof raw.Next === "string") graph.edges.push({ source: name, target: raw.Next, kind: "next" });
    if (typeof raw.Default === "string") graph.edges.push({ source: name, target: raw.Default, kind: "default" });
    for (const [field, kindOf] of [["Choices", "choice"], ["Catch", "catch"]] as const) {
      const list = body[field];
      if (!Array.isArray(list)) continue;
      list.forEach((rule, index) => {
        if (isObject(rule) && typeof rule.Next === "string") {
          graph.edges.push({ source: name, target: rule.Next, kind: kindOf, index });
          delete rule.Next;
        }
      });
    }
    graph.nodes.push(node);
  }
  return graph;
}

/** The layout a Comment carries (node path -> box), and the Comment without it. */
export function splitComment(comment: unknown): { text: string | undefined; layout: Record<string, number[]> | null } {
  if (typeof comment !== "string") return { text: undefined, layout: null };
  const at = comment.lastIndexOf(LAYOUT_MARK);
  if (at < 0 || (at > 0 && comment[at - 1] !== "\n")) return { text: comment, layout: null };
  try {
    const parsed = JSON.parse(comment.slice(at + LAYOUT_MARK.length)) as { boxes?: Record<string, number[]> };
    const text = comment.slice(0, at).replace(/\n+$/, "");
    return { text: text || undefined, layout: parsed.boxes ?? {} };
  } catch {
    return { text: comment, layout: null };
  }
}

/** Every node with its layout path ("Map", "Map/Inner", "Par/1/Inner"). */
export function* walk(graph: FlowGraph, prefix = ""): Generator<[string, FlowNode, FlowGraph]> {
  for (const node of graph.nodes) {
    const path = prefix + node.name;
    yield [path, node, graph];
    if (node.inner) yield* walk(node.inner, `${path}/`);
    for (const [i, b] of (node.branches ?? []).entries()) yield* walk(b, `${path}/${i}/`);
  }
}

export interface Imported {
  graph: FlowGraph;
  /** Whether the document carried its layout (else the caller lays it out). */
  laidOut: boolean;
}

/** Read an ASL document (an object or its JSON text) into a graph. */
export function importAsl(doc: unknown): Imported {
  let parsed = doc;
  if (typeof doc === "string") {
    try {
      parsed = JSON.parse(doc);
    } catch (e) {
      throw new AslError(`not JSON: ${(e as Error).message}`);
    }
  }
  const graph = graphFrom(parsed, "document");
  const { text, layout } = splitComment(graph.extra.Comment);
  if (layout) {
    if (text === undefined) {
      delete graph.extra.Comment;
      graph.keys = graph.keys.filter((k) => k !== "Comment");
    } else graph.extra.Comment = text;
    for (const [path, node] of walk(graph)) {
      const b = layout[path];
      if (b && b.length === 4 && b.every((n) => typeof n === "number")) node.box = { x: b[0], y: b[1], width: b[2], height: b[3] };
    }
  }
  return { graph, laidOut: layout !== null };
}

// -- export ----------------------------------------------------------------------------------

function statesOf(graph: FlowGraph): JsonObject {
  const states: JsonObject = {};
  for (const node of graph.nodes) {
    const out: JsonObject = { Type: node.kind, ...clone(node.body) };
    const from = graph.edges.filter((e) => e.source === node.name);
    if (node.inner) out[node.innerKey ?? "ItemProcessor"] = documentOf(node.inner);
    if (node.branches) out.Branches = node.branches.map(documentOf);
    for (const [field, kind] of [["Choices", "choice"], ["Catch", "catch"]] as const) {
      const list = out[field];
      if (!Array.isArray(list)) continue;
      for (const e of from.filter((e) => e.kind === kind)) {
        const rule = list[e.index ?? -1];
        if (isObject(rule)) rule.Next = e.target;
      }
    }
    const def = from.find((e) => e.kind === "default");
    if (def) out.Default = def.target;
    const next = from.find((e) => e.kind === "next");
    if (next) out.Next = next.target;
    else if (node.kind !== "Choice" && node.kind !== "Succeed" && node.kind !== "Fail") out.End = true;
    states[node.name] = ordered(out, node.keys);
  }
  return states;
}

function documentOf(graph: FlowGraph): JsonObject {
  return ordered({ ...clone(graph.extra), StartAt: graph.startAt, States: statesOf(graph) }, graph.keys);
}

const round = (n: number) => Math.round(n);

/** The ASL document of a graph; with `layout`, the positions go into the top-level Comment. */
export function exportAsl(graph: FlowGraph, { layout = false } = {}): JsonObject {
  const doc = documentOf(graph);
  if (!layout) return doc;
  const boxes: Record<string, number[]> = {};
  for (const [path, node] of walk(graph)) {
    if (node.box) boxes[path] = [node.box.x, node.box.y, node.box.width, node.box.height].map(round);
  }
  const text = typeof doc.Comment === "string" && doc.Comment ? `${doc.Comment}\n` : "";
  const comment = `${text}${LAYOUT_MARK}${JSON.stringify({ boxes })}`;
  return "Comment" in doc ? { ...doc, Comment: comment } : { Comment: comment, ...doc };
}

/** Deep equality of JSON values, ignoring the order of object keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return false;
}

// -- the flat form a canvas edits --------------------------------------------------------------

/** A node as a canvas holds it: every node of every nesting level in one list. */
export interface FlatNode {
  id: string;
  /** The enclosing Map or Parallel node's id (null: the top level). */
  parent: string | null;
  name: string;
  kind: StateKind;
  body: JsonObject;
  keys: string[];
  box?: Box;
  innerKey?: "ItemProcessor" | "Iterator";
  /** A container's inner graphs' own fields (extra + key order), in branch order. */
  scopes?: { extra: JsonObject; keys: string[] }[];
}

export interface FlatEdge {
  id: string;
  source: string;
  target: string;
  kind: EdgeKind;
  index?: number;
}

export interface Flat {
  nodes: FlatNode[];
  edges: FlatEdge[];
  top: { extra: JsonObject; keys: string[]; startAt: string };
  /** The StartAt of each container's inner graphs (by container id, in branch order). */
  starts: Record<string, string[]>;
}

/** A problem the graph has before any validator sees it, on the node it concerns. */
export interface Problem {
  node: string;
  message: string;
}

/** Flatten a graph: ids are layout paths (stable, unique). */
export function toFlat(graph: FlowGraph): Flat {
  const flat: Flat = { nodes: [], edges: [], top: { extra: clone(graph.extra), keys: [...graph.keys], startAt: graph.startAt }, starts: {} };
  const add = (g: FlowGraph, parent: string | null, prefix: string) => {
    const byName = new Map<string, string>();
    for (const node of g.nodes) byName.set(node.name, prefix + node.name);
    for (const node of g.nodes) {
      const id = prefix + node.name;
      const inner = node.inner ? [node.inner] : (node.branches ?? null);
      flat.nodes.push({
        id, parent, name: node.name, kind: node.kind, body: clone(node.body), keys: [...node.keys], box: node.box && { ...node.box },
        innerKey: node.innerKey,
        scopes: inner?.map((s) => ({ extra: clone(s.extra), keys: [...s.keys] })),
      });
      if (node.inner) {
        flat.starts[id] = [node.inner.startAt];
        add(node.inner, id, `${id}/`);
      }
      if (node.branches) {
        flat.starts[id] = node.branches.map((b) => b.startAt);
        node.branches.forEach((b, i) => add(b, id, `${id}/${i}/`));
      }
    }
    g.edges.forEach((e) => {
      const source = byName.get(e.source) ?? prefix + e.source;
      const target = byName.get(e.target) ?? prefix + e.target;
      flat.edges.push({ id: `${source}->${target}:${e.kind}${e.index ?? ""}`, source, target, kind: e.kind, index: e.index });
    });
  };
  add(graph, null, "");
  return flat;
}

/** Groups of nodes joined by edges (a Parallel's branches), in the order of their first node. */
function components(ids: string[], edges: FlatEdge[]): string[][] {
  const root = new Map(ids.map((id) => [id, id]));
  const find = (id: string): string => {
    let r = id;
    while (root.get(r) !== r) r = root.get(r)!;
    return r;
  };
  for (const e of edges) if (root.has(e.source) && root.has(e.target)) root.set(find(e.source), find(e.target));
  const groups = new Map<string, string[]>();
  for (const id of ids) groups.set(find(id), [...(groups.get(find(id)) ?? []), id]);
  return [...groups.values()];
}

/** Which of `ids` starts their graph: the one nothing leads to (the previous start on a tie). */
function startOf(ids: string[], names: Map<string, string>, edges: FlatEdge[], previous: string | undefined, problems: Problem[], boxes: Map<string, Box | undefined>): string {
  const led = new Set(edges.filter((e) => ids.includes(e.target) && e.source !== e.target).map((e) => e.target));
  const free = ids.filter((id) => !led.has(id));
  const byPrevious = ids.find((id) => names.get(id) === previous);
  let start: string | undefined;
  if (byPrevious && (free.length === 0 || free.includes(byPrevious))) start = byPrevious;
  else if (free.length) start = [...free].sort((a, b) => (boxes.get(a)?.y ?? 0) - (boxes.get(b)?.y ?? 0))[0];
  else start = ids[0];
  for (const id of free) {
    if (id !== start) problems.push({ node: id, message: `nothing leads to ${names.get(id)}: connect it, or remove it` });
  }
  return names.get(start!) ?? "";
}

/** A graph from what a canvas holds, and the problems no ASL can express (edges across a Map's
 * border, a second Next, a state ending the workflow that leads on). */
export function fromFlat(flat: Flat): { graph: FlowGraph; problems: Problem[] } {
  const problems: Problem[] = [];
  const byId = new Map(flat.nodes.map((n) => [n.id, n]));
  const names = new Map(flat.nodes.map((n) => [n.id, n.name]));
  const boxes = new Map(flat.nodes.map((n) => [n.id, n.box]));
  const seen = new Map<string, string>();
  for (const n of flat.nodes) {
    if (seen.has(n.name)) problems.push({ node: n.id, message: `another state is named ${n.name}: state names are unique` });
    seen.set(n.name, n.id);
  }
  const edges: FlatEdge[] = [];
  const nextCount = new Map<string, number>();
  for (const e of flat.edges) {
    const s = byId.get(e.source);
    const t = byId.get(e.target);
    if (!s || !t) continue;
    if (s.parent !== t.parent) {
      problems.push({ node: s.id, message: `${s.name} cannot lead to ${t.name}: a transition stays inside its Map, Parallel branch or the top level` });
      continue;
    }
    if (s.kind === "Succeed" || s.kind === "Fail") {
      problems.push({ node: s.id, message: `a ${s.kind} state ends the workflow: it cannot lead to ${t.name}` });
    }
    if (e.kind === "next" || e.kind === "default") {
      const key = `${s.id}\u0000${e.kind}`;
      nextCount.set(key, (nextCount.get(key) ?? 0) + 1);
      if (nextCount.get(key) === 2) {
        problems.push({ node: s.id, message: e.kind === "next" ? `${s.name} has two next states: use a Choice or a Parallel to branch` : `${s.name} has two defaults: remove one` });
      }
    }
    edges.push(e);
  }
  const build = (members: FlatNode[], previousStart: string | undefined, extra: JsonObject, keys: string[]): FlowGraph => {
    const ids = members.map((m) => m.id);
    const inScope = edges.filter((e) => ids.includes(e.source));
    const graph: FlowGraph = {
      startAt: ids.length ? startOf(ids, names, inScope, previousStart, problems, boxes) : (previousStart ?? ""),
      nodes: [],
      edges: inScope.map((e) => ({ source: names.get(e.source)!, target: names.get(e.target)!, kind: e.kind, ...(e.index !== undefined ? { index: e.index } : {}) })),
      extra: clone(extra),
      keys: [...keys],
    };
    for (const m of members) {
      const node: FlowNode = { name: m.name, kind: m.kind, body: clone(m.body), keys: [...m.keys], box: m.box && { ...m.box } };
      const children = flat.nodes.filter((c) => c.parent === m.id);
      const scopes = m.scopes ?? [];
      const starts = flat.starts[m.id] ?? [];
      if (m.kind === "Map") {
        node.innerKey = m.innerKey ?? "ItemProcessor";
        const scope = scopes[0] ?? { extra: { ProcessorConfig: { Mode: "INLINE" } }, keys: ["ProcessorConfig", "StartAt", "States"] };
        if (!children.length) problems.push({ node: m.id, message: `the Map ${m.name} runs nothing: drop a state into it` });
        node.inner = build(children, starts[0], scope.extra, scope.keys);
      } else if (m.kind === "Parallel") {
        // a branch keeps its index while its start state stays in it; new ones by position
        const rank = (group: string[]): number => {
          const i = starts.findIndex((s) => group.some((id) => names.get(id) === s));
          return i >= 0 ? i : 1000 + Math.min(...group.map((id) => boxes.get(id)?.x ?? 0));
        };
        const groups = components(children.map((c) => c.id), edges).sort((a, b) => rank(a) - rank(b));
        if (!groups.length) problems.push({ node: m.id, message: `the Parallel ${m.name} has no branch: drop a state into it` });
        node.branches = groups.map((g, i) => {
          const scope = scopes[i] ?? { extra: {}, keys: ["StartAt", "States"] };
          return build(children.filter((c) => g.includes(c.id)), starts[i], scope.extra, scope.keys);
        });
      }
      graph.nodes.push(node);
    }
    return graph;
  };
  const graph = build(flat.nodes.filter((n) => n.parent === null), flat.top.startAt, flat.top.extra, flat.top.keys);
  return { graph, problems };
}

// -- a readable field order ----------------------------------------------------------------------

const MACHINE_ORDER = ["Comment", "QueryLanguage", "StartAt", "TimeoutSeconds", "Version", "ProcessorConfig", "States"];
const STATE_ORDER = [
  "Type", "Comment", "QueryLanguage", "Resource", "Parameters", "Arguments", "InputPath", "ItemsPath", "Items", "ItemReader",
  "ItemSelector", "ItemBatcher", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailureCount",
  "ItemProcessor", "Iterator", "Branches", "Choices", "Default", "Seconds", "SecondsPath", "Timestamp", "TimestampPath",
  "Result", "ResultSelector", "ResultWriter", "ResultPath", "OutputPath", "Output", "Assign", "TimeoutSeconds",
  "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Error", "ErrorPath", "Cause",
  "CausePath", "Next", "End",
];

function byOrder(obj: JsonObject, order: string[]): JsonObject {
  const out: JsonObject = {};
  for (const k of order) if (k in obj) out[k] = obj[k];
  for (const k of Object.keys(obj)) if (!(k in out)) out[k] = obj[k];
  return out;
}

/**
 * A document's fields in the order the ASL specification lists them (Type first, Next/End
 * last), nested machines included. Stored versions come back from PostgreSQL's jsonb with their
 * keys reordered; this makes them (and their diffs) read as they were written.
 */
export function canonicalAsl(doc: JsonObject): JsonObject {
  const machine = byOrder(doc, MACHINE_ORDER);
  if (isObject(machine.States)) {
    const states: JsonObject = {};
    for (const [name, raw] of Object.entries(machine.States)) {
      if (!isObject(raw)) {
        states[name] = raw;
        continue;
      }
      const state = byOrder(raw, STATE_ORDER);
      for (const k of ["ItemProcessor", "Iterator"]) if (isObject(state[k])) state[k] = canonicalAsl(state[k] as JsonObject);
      if (Array.isArray(state.Branches)) state.Branches = state.Branches.map((b) => (isObject(b) ? canonicalAsl(b) : b));
      states[name] = state;
    }
    machine.States = states;
  }
  return machine;
}
