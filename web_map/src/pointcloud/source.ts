/**
 * A COPC file read in the browser through our `/assets` URL: HTTP Range requests only (the
 * header, the hierarchy pages, then one compressed chunk per node), with the user's credentials
 * (api/http adds them for this origin), decoded by copc.js + laz-perf (WASM).
 */

import { Copc, Hierarchy, Las, type Getter } from "copc";
import wasmUrl from "laz-perf/lib/web/laz-perf.wasm?url";
import { request } from "../api/http";
import { formatHasRgb, type PointAttributes } from "./colors";
import { type NodeMap, type Selection, pagesToLoad, selectNodes } from "./lod";

import type { LazPerf } from "laz-perf";

/** What went over the network (the test and the status line read it). */
export interface FetchStats {
  requests: number;
  /** Answers that were 206 Partial Content. */
  partial: number;
  bytes: number;
}

export interface NodePoints extends PointAttributes {
  key: string;
  /** x, y, z per point relative to the octree's centre (float32 keeps millimetres). */
  positions: Float32Array;
}

let lazPerf: Promise<LazPerf> | undefined;

/** One decoder for the page, its WASM from our own bundle (not beside copc.js). */
function decoder(): Promise<LazPerf> {
  const made: Promise<LazPerf> = lazPerf ?? Las.PointData.createLazPerf({ locateFile: () => wasmUrl });
  lazPerf = made;
  return made;
}

export class CopcSource {
  readonly stats: FetchStats = { requests: 0, partial: 0, bytes: 0 };
  private readonly get: Getter;
  private copc!: Copc;
  private nodes: NodeMap & Hierarchy.Node.Map = {};
  private pages: Hierarchy.Page.Map = {};
  private loadedPages = new Set<string>();

  constructor(readonly url: string) {
    this.get = async (begin: number, end: number) => {
      const res = await request(this.url, { headers: { Range: `bytes=${begin}-${end - 1}` }, cache: "no-store" });
      const body = new Uint8Array(await res.arrayBuffer());
      this.stats.requests += 1;
      this.stats.bytes += body.byteLength;
      if (res.status === 206) {
        this.stats.partial += 1;
        return body;
      }
      return body.slice(begin, end); // a server that ignored Range sent the whole file
    };
  }

  /** Read the header, the info VLR and the root hierarchy page. */
  async open(): Promise<void> {
    this.copc = await Copc.create(this.get);
    const root = await Copc.loadHierarchyPage(this.get, this.copc.info.rootHierarchyPage);
    this.merge("0-0-0-0", root);
  }

  get header(): Las.Header {
    return this.copc.header;
  }

  get hasRgb(): boolean {
    return formatHasRgb(this.copc.header.pointDataRecordFormat);
  }

  /** Octree centre in file coordinates (positions are relative to it). */
  get centre(): [number, number, number] {
    const c = this.copc.info.cube;
    return [(c[0] + c[3]) / 2, (c[1] + c[4]) / 2, (c[2] + c[5]) / 2];
  }

  /** Nodes to load within ``budget``, reading the hierarchy pages the choice needs. */
  async plan(budget: number): Promise<Selection> {
    for (;;) {
      const selection = selectNodes(this.nodes, budget);
      const more = pagesToLoad(this.pages, this.loadedPages, selection, budget);
      if (more.length === 0) return selection;
      for (const key of more) this.merge(key, await Copc.loadHierarchyPage(this.get, this.pages[key]!));
    }
  }

  pointCount(key: string): number {
    return this.nodes[key]?.pointCount ?? 0;
  }

  async node(key: string): Promise<NodePoints> {
    const node = this.nodes[key];
    if (!node) throw new Error(`no node ${key}`);
    const include = ["X", "Y", "Z", "Intensity", "Classification", ...(this.hasRgb ? ["Red", "Green", "Blue"] : [])];
    const view = await Copc.loadPointDataView(this.get, this.copc, node, { lazPerf: await decoder(), include });
    const n = view.pointCount;
    const [cx, cy, cz] = this.centre;
    const gx = view.getter("X");
    const gy = view.getter("Y");
    const gz = view.getter("Z");
    const gi = view.getter("Intensity");
    const gc = view.getter("Classification");
    const positions = new Float32Array(n * 3);
    const z = new Float64Array(n);
    const intensity = new Uint16Array(n);
    const classification = new Uint8Array(n);
    const rgb = this.hasRgb ? new Uint16Array(n * 3) : undefined;
    const [gr, gg, gb] = rgb ? ["Red", "Green", "Blue"].map((d) => view.getter(d)) : [];
    for (let i = 0; i < n; i++) {
      z[i] = gz(i);
      positions[i * 3] = gx(i) - cx;
      positions[i * 3 + 1] = gy(i) - cy;
      positions[i * 3 + 2] = z[i] - cz;
      intensity[i] = gi(i);
      classification[i] = gc(i);
      if (rgb) {
        rgb[i * 3] = gr!(i);
        rgb[i * 3 + 1] = gg!(i);
        rgb[i * 3 + 2] = gb!(i);
      }
    }
    return { key, count: n, positions, z, intensity, classification, rgb };
  }

  private merge(pageKey: string, subtree: Hierarchy.Subtree): void {
    this.loadedPages.add(pageKey);
    Object.assign(this.nodes, subtree.nodes);
    for (const [k, p] of Object.entries(subtree.pages)) if (!this.loadedPages.has(k)) this.pages[k] = p;
  }
}
