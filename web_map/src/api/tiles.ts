/** The tiler: XYZ templates and WMTS capabilities for items, collections and registered searches. */

import { postJson } from "./http";

const enc = encodeURIComponent;
const TILE = "tiles/WebMercatorQuad/{z}/{x}/{y}.png";

/** Query parameters for a layer: a render preset name, or assets to draw. */
export type TileParams = Record<string, string | undefined>;

function withParams(url: string, params: TileParams = {}): string {
  const q = Object.entries(params)
    .filter(([, v]) => v)
    .map(([k, v]) => `${enc(k)}=${enc(v!)}`)
    .join("&");
  return q ? `${url}?${q}` : url;
}

const COG = /geotiff|cloud-optimized/i;
/** COPC point clouds: the tiler grids them into rasters with the collection's presets (dtm, dsm…). */
const COPC = /copc/i;
/** Store objects: served by this platform's /assets (…/assets/{collection}/{item}/{asset}), or a
 * stored location (a path, s3://) from an older API; remote files are any other URL. */
const OWN_ASSET = /\/assets\/[^/?#]+\/[^/?#]+\/[^/?#]+(\?|$)/;
const inStore = (href: string) => !/^(https?:)?\/\//i.test(href) || (OWN_ASSET.test(href) && sameOrigin(href));
const sameOrigin = (href: string) => typeof location === "undefined" || new URL(href, location.href).origin === location.origin;

/**
 * How the tiler can draw an item: with its collection's render preset (no parameters), or one
 * of its COG assets; or why it cannot (its files are on a remote server, not in our store).
 */
export function itemTileParams(
  item: { assets?: Record<string, { href: string; type?: string; roles?: string[] }> },
  hasRenders: boolean,
): { params: TileParams } | { reason: string } {
  const cogs = Object.entries(item.assets ?? {}).filter(
    ([, a]) => (COG.test(a.type ?? "") || /\.tiff?$/i.test(a.href)) && !a.roles?.includes("thumbnail"),
  );
  const local = cogs.filter(([, a]) => inStore(a.href));
  const clouds = Object.entries(item.assets ?? {}).filter(
    ([, a]) => (COPC.test(a.type ?? "") || /\.copc\.laz$/i.test(a.href)) && inStore(a.href),
  );
  if (!local.length && clouds.length) {
    return hasRenders
      ? { params: {} }
      : { reason: "its point cloud has no render preset: add them with `stacworks renders add COLLECTION --auto`" };
  }
  if (!local.length) {
    return {
      reason: cogs.length
        ? "its files are on a remote server, not in this platform's store: ingest it to see its tiles"
        : "it has no raster (GeoTIFF) asset to draw",
    };
  }
  if (hasRenders) return { params: {} };
  const best = local.find(([, a]) => a.roles?.includes("visual")) ?? local.find(([, a]) => a.roles?.includes("data")) ?? local[0];
  return { params: { assets: best[0] } };
}

export class TilesApi {
  constructor(public readonly base: string) {}

  itemTiles(collection: string, item: string, params?: TileParams): string {
    return withParams(`${this.base}/collections/${enc(collection)}/items/${enc(item)}/${TILE}`, params);
  }

  itemWmts(collection: string, item: string): string {
    return `${this.base}/collections/${enc(collection)}/items/${enc(item)}/WMTSCapabilities.xml`;
  }

  collectionTiles(collection: string, render?: string): string {
    return withParams(`${this.base}/collections/${enc(collection)}/${TILE}`, { render });
  }

  collectionWmts(collection: string): string {
    return `${this.base}/collections/${enc(collection)}/WMTSCapabilities.xml`;
  }

  searchTiles(searchId: string, render?: string): string {
    return withParams(`${this.base}/searches/${enc(searchId)}/${TILE}`, { render });
  }

  searchWmts(searchId: string): string {
    return `${this.base}/searches/${enc(searchId)}/WMTSCapabilities.xml`;
  }

  /** Register a mosaic of exactly these items; returns its search id. */
  async registerItems(items: { collection: string; id: string }[]): Promise<string> {
    const collections = [...new Set(items.map((i) => i.collection))];
    const body = {
      collections,
      filter: { op: "in", args: [{ property: "id" }, items.map((i) => i.id)] },
      "filter-lang": "cql2-json",
    };
    const { data } = await postJson<{ id?: string; searchid?: string }>(`${this.base}/searches/register`, body);
    const id = data?.id ?? data?.searchid;
    if (!id) throw new Error("the tiler did not return a search id");
    return id;
  }
}
