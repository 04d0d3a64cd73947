/** The STAC API: collections, their item counts, and item search with token paging. */

import type { Geometry } from "geojson";
import { getJson } from "./http";

export interface Link {
  rel: string;
  href: string;
  type?: string;
  method?: string;
  body?: unknown;
}

export interface Asset {
  href: string;
  title?: string;
  type?: string;
  roles?: string[];
}

export interface StacItem {
  type: "Feature";
  id: string;
  collection: string;
  bbox?: number[];
  geometry: Geometry | null;
  properties: Record<string, unknown> & { datetime?: string | null };
  assets: Record<string, Asset>;
  links: Link[];
}

export interface StacCollection {
  id: string;
  title?: string;
  description?: string;
  extent?: {
    spatial?: { bbox?: number[][] };
    temporal?: { interval?: (string | null)[][] };
  };
  summaries?: Record<string, unknown>;
  item_assets?: Record<string, unknown>;
  renders?: Record<string, { title?: string }>;
  keywords?: string[];
  links: Link[];
}

export interface ItemCollection {
  type: "FeatureCollection";
  features: StacItem[];
  links?: Link[];
  numberMatched?: number;
  numberReturned?: number;
  context?: { matched?: number };
}

export interface SearchQuery {
  bbox?: number[];
  from?: string; // YYYY-MM-DD
  to?: string;
  collections?: string[];
  maxCloud?: number | null;
  /** When several collections are searched, keep items that carry no eo:cloud_cover. */
  cloudKeepsUnknown?: boolean;
  q?: string;
  limit?: number;
}

export const nextLink = (doc: { links?: Link[] }): string | null =>
  doc.links?.find((l) => l.rel === "next" && (l.method ?? "GET").toUpperCase() === "GET")?.href ?? null;

export const selfLink = (item: StacItem): string | undefined => item.links?.find((l) => l.rel === "self")?.href;

/** RFC 3339 interval for two calendar dates (either may be open). */
export function datetimeInterval(from?: string, to?: string): string | undefined {
  if (!from && !to) return undefined;
  const start = from ? `${from}T00:00:00Z` : "..";
  const end = to ? `${to}T23:59:59Z` : "..";
  return `${start}/${end}`;
}

/** The GET /search query string for a search. */
export function searchParams(query: SearchQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (query.collections?.length) p.set("collections", query.collections.join(","));
  if (query.bbox) p.set("bbox", query.bbox.map((v) => Number(v.toFixed(6))).join(","));
  const dt = datetimeInterval(query.from, query.to);
  if (dt) p.set("datetime", dt);
  if (query.maxCloud !== undefined && query.maxCloud !== null) {
    const cond = `eo:cloud_cover <= ${query.maxCloud}`;
    p.set("filter", query.cloudKeepsUnknown ? `(${cond} OR eo:cloud_cover IS NULL)` : cond);
    p.set("filter-lang", "cql2-text");
  }
  if (query.q) p.set("q", query.q);
  p.set("sortby", "-properties.datetime");
  p.set("limit", String(query.limit ?? 20));
  return p;
}

/** A bbox that the API accepts: longitudes wrapped into [-180, 180], latitudes clamped. */
export function normalizeBbox([w, s, e, n]: number[]): number[] {
  if (e - w >= 360) return [-180, Math.max(s, -90), 180, Math.min(n, 90)];
  const wrap = (x: number) => ((((x + 180) % 360) + 360) % 360) - 180;
  let [ww, ee] = [wrap(w), wrap(e)];
  if (ee < ww) [ww, ee] = [-180, 180]; // crosses the antimeridian: search the whole band
  return [ww, Math.max(s, -90), ee, Math.min(n, 90)];
}

export class StacApi {
  constructor(public readonly base: string) {}

  searchUrl(query: SearchQuery): string {
    return `${this.base}/search?${searchParams(query).toString()}`;
  }

  page(url: string): Promise<ItemCollection> {
    return getJson<ItemCollection>(url);
  }

  /** Every collection the user can see (following "next" links). */
  async collections(): Promise<StacCollection[]> {
    const out: StacCollection[] = [];
    let url: string | null = `${this.base}/collections?limit=100`;
    for (let i = 0; url && i < 50; i++) {
      const doc: { collections: StacCollection[]; links?: Link[] } = await getJson(url);
      out.push(...doc.collections);
      url = nextLink(doc);
    }
    return out;
  }

  /** The number of items in a collection, counted by paging ids when the API gives no total. */
  async itemCount(collection: string, cap = 20000): Promise<{ count: number; capped: boolean }> {
    let url: string | null =
      `${this.base}/search?collections=${encodeURIComponent(collection)}&limit=5000&fields=id`;
    let count = 0;
    while (url) {
      const doc: ItemCollection = await getJson(url);
      const total = doc.numberMatched ?? doc.context?.matched;
      if (total !== undefined) return { count: total, capped: false };
      count += doc.features.length;
      if (count >= cap) return { count, capped: Boolean(nextLink(doc)) };
      url = nextLink(doc);
    }
    return { count, capped: false };
  }

  /** The terms a collection can be filtered on (from its queryables). */
  async queryables(collection: string): Promise<string[]> {
    const doc = await getJson<{ properties?: Record<string, unknown> }>(
      `${this.base}/collections/${encodeURIComponent(collection)}/queryables`,
    );
    return Object.keys(doc.properties ?? {});
  }

  item(href: string): Promise<StacItem> {
    return getJson<StacItem>(href);
  }
}

/** Whether items of a collection carry eo:cloud_cover (from its summaries or queryables). */
export function hasCloudCover(collection: StacCollection | undefined, queryables: string[] = []): boolean {
  return Boolean(collection?.summaries && "eo:cloud_cover" in collection.summaries) || queryables.includes("eo:cloud_cover");
}

/** A thumbnail URL for an item, if it has one. */
export function thumbnailOf(item: StacItem): string | undefined {
  const entries = Object.entries(item.assets ?? {});
  const thumb =
    entries.find(([, a]) => a.roles?.includes("thumbnail")) ?? entries.find(([k]) => k === "thumbnail");
  const href = thumb?.[1].href;
  return href && /^(https?:)?\/\//.test(href) && /\.(png|jpe?g|webp|gif)(\?|$)/i.test(href) ? href : undefined;
}
