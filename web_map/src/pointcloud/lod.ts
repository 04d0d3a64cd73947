/**
 * Level-of-detail choice for a COPC octree: which nodes to fetch, coarsest first, under a point
 * budget. Pure (no three.js, no network) so it is unit-tested and reused by the loader.
 *
 * COPC nodes are keyed "D-X-Y-Z"; every node holds an even subset of the points of its cube, so
 * the root alone is a thin but complete picture and each level adds detail everywhere. A node is
 * taken only after its parent (the picture never has holes where a coarser level is missing).
 * Whole levels are taken while they fit; the first level that does not fit is filled with its
 * densest nodes first (where detail shows most), and nothing deeper is taken.
 */

export interface NodeInfo {
  pointCount: number;
}

export type NodeMap = Record<string, NodeInfo | undefined>;

/** [depth, x, y, z] of a "D-X-Y-Z" key; throws on anything else. */
export function parseKey(key: string): [number, number, number, number] {
  const parts = key.split("-").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`not a COPC node key: ${key}`);
  return parts as [number, number, number, number];
}

export function depthOf(key: string): number {
  return parseKey(key)[0];
}

/** The parent's key, or null for the root. */
export function parentKey(key: string): string | null {
  const [d, x, y, z] = parseKey(key);
  return d === 0 ? null : `${d - 1}-${x >> 1}-${y >> 1}-${z >> 1}`;
}

function byDepthThenKey(a: string, b: string): number {
  const ka = parseKey(a);
  const kb = parseKey(b);
  for (let i = 0; i < 4; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return 0;
}

export interface Selection {
  /** Keys to load, in load order (depth, then position). */
  keys: string[];
  /** Points in those nodes. */
  points: number;
  /** Deepest level taken (-1 when nothing). */
  depth: number;
  /** Whether nodes were left out for the budget (more detail exists). */
  truncated: boolean;
}

/** The nodes to load within ``budget`` points, never deeper than ``maxDepth``. */
export function selectNodes(nodes: NodeMap, budget: number, maxDepth = Number.POSITIVE_INFINITY): Selection {
  const levels = new Map<number, string[]>();
  for (const [key, node] of Object.entries(nodes)) {
    if (!node || node.pointCount < 0) continue;
    const d = depthOf(key);
    if (d > maxDepth) continue;
    if (!levels.has(d)) levels.set(d, []);
    levels.get(d)!.push(key);
  }
  const taken = new Set<string>();
  const keys: string[] = [];
  let points = 0;
  let depth = -1;
  let truncated = false;
  for (const d of [...levels.keys()].sort((a, b) => a - b)) {
    const eligible = levels
      .get(d)!
      .filter((k) => d === 0 || taken.has(parentKey(k)!))
      .sort(byDepthThenKey);
    if (eligible.length === 0) break;
    const levelPoints = eligible.reduce((n, k) => n + nodes[k]!.pointCount, 0);
    if (points + levelPoints <= budget) {
      for (const k of eligible) taken.add(k);
      keys.push(...eligible);
      points += levelPoints;
      depth = d;
      continue;
    }
    // The level does not fit: its densest nodes first, then stop descending.
    const densest = [...eligible].sort((a, b) => nodes[b]!.pointCount - nodes[a]!.pointCount || byDepthThenKey(a, b));
    const partial: string[] = [];
    for (const k of densest) {
      if (points + nodes[k]!.pointCount > budget) continue;
      partial.push(k);
      points += nodes[k]!.pointCount;
    }
    if (partial.length) depth = d;
    keys.push(...partial.sort(byDepthThenKey));
    truncated = true;
    break;
  }
  if (!truncated) {
    // Everything within maxDepth fitted; more exists only below maxDepth.
    truncated = Object.entries(nodes).some(([k, n]) => n && n.pointCount > 0 && depthOf(k) > maxDepth);
  }
  return { keys, points, depth, truncated };
}

/**
 * Hierarchy pages worth reading next: those whose subtree hangs below a node already selected
 * (a page keyed K describes K and its descendants), while the budget is not spent.
 */
export function pagesToLoad(pages: Record<string, unknown>, loaded: Set<string>, selected: Selection, budget: number): string[] {
  if (selected.points >= budget) return [];
  const taken = new Set(selected.keys);
  return Object.keys(pages)
    .filter((k) => !loaded.has(k) && (parentKey(k) === null || taken.has(parentKey(k)!)))
    .sort(byDepthThenKey);
}

/**
 * Fetch ``keys`` (coarsest first) with ``concurrency`` requests in flight, handing each node to
 * ``add`` as it arrives, except that the first key is fetched and added alone before the others
 * start: the viewer derives its colour ranges (elevation, intensity) from the first node it is
 * given, and only the coarsest one is an even sample of the whole cloud. With all requests
 * started at once, whichever node answered first set the ramp, and on a busy machine a small
 * deep node could clamp the rest of the cloud to the ramp's two ends.
 * ``stale()`` true stops the loading (a newer plan replaced this one).
 */
export async function loadNodes<T>(
  keys: string[],
  fetch: (key: string) => Promise<T>,
  add: (node: T) => void,
  concurrency: number,
  stale: () => boolean = () => false,
): Promise<void> {
  const queue = [...keys];
  const first = queue.shift();
  if (first === undefined) return;
  const node = await fetch(first);
  if (stale()) return;
  add(node);
  const worker = async () => {
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      const next = await fetch(key);
      if (stale()) return;
      add(next);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
