/**
 * Automatic layout for documents that carry none (written by hand, or exported from the Step
 * Functions console): dagre (a maintained Sugiyama layered layout, small and framework-free),
 * top to bottom, inner graphs first so a Map or Parallel is sized to hold its states.
 */

import dagre from "@dagrejs/dagre";
import type { Box, FlowGraph, FlowNode } from "./model";

export const NODE_SIZE = { width: 190, height: 54 };
/** Room inside a container: its title on top, a margin round its states. */
export const CONTAINER_PAD = { top: 44, side: 24, bottom: 24 };
const BRANCH_GAP = 40;

/** Lay `graph` out in place (every node gets a box; containers sized to hold their states). */
export function autoLayout(graph: FlowGraph): FlowGraph {
  for (const node of graph.nodes) sizeOf(node);
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 50, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.name, { width: node.box!.width, height: node.box!.height });
  graph.edges.forEach((e, i) => {
    if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target, {}, `e${i}`);
  });
  dagre.layout(g);
  for (const node of graph.nodes) {
    const p = g.node(node.name);
    node.box = { ...node.box!, x: Math.round(p.x - node.box!.width / 2), y: Math.round(p.y - node.box!.height / 2) };
  }
  return graph;
}

/** The extent of laid-out nodes (relative to their container). */
export function extent(nodes: FlowNode[]): Box {
  if (!nodes.length) return { x: 0, y: 0, width: 0, height: 0 };
  const xs = nodes.map((n) => n.box!.x);
  const ys = nodes.map((n) => n.box!.y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return {
    x, y,
    width: Math.max(...nodes.map((n) => n.box!.x + n.box!.width)) - x,
    height: Math.max(...nodes.map((n) => n.box!.y + n.box!.height)) - y,
  };
}

function sizeOf(node: FlowNode): void {
  const inner = node.inner ? [node.inner] : (node.branches ?? []);
  if (!inner.length) {
    node.box = { x: 0, y: 0, ...NODE_SIZE };
    return;
  }
  // Branches side by side, each laid out on its own; then shifted into the container's frame.
  let left = CONTAINER_PAD.side;
  let height = 0;
  for (const sub of inner) {
    autoLayout(sub);
    const box = extent(sub.nodes);
    for (const n of sub.nodes) n.box = { ...n.box!, x: n.box!.x - box.x + left, y: n.box!.y - box.y + CONTAINER_PAD.top };
    left += box.width + BRANCH_GAP;
    height = Math.max(height, box.height);
  }
  node.box = {
    x: 0, y: 0,
    width: Math.max(NODE_SIZE.width + 2 * CONTAINER_PAD.side, left - BRANCH_GAP + CONTAINER_PAD.side),
    height: Math.max(NODE_SIZE.height, height) + CONTAINER_PAD.top + CONTAINER_PAD.bottom,
  };
}
