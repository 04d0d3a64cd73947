/** The view in the URL (centre, zoom, dates, visible layers, search), so a link reproduces it. */

export interface ViewState {
  center: [number, number]; // lon, lat
  zoom: number;
  from?: string; // YYYY-MM-DD
  to?: string;
  layers: string[]; // visible layer ids, bottom to top
  collection?: string; // the collection searched
  q?: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const round = (v: number, digits: number) => Number(v.toFixed(digits));
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The query string (without "?") for a view; empty values are left out. */
export function encodeView(view: ViewState): string {
  const p = new URLSearchParams();
  p.set("c", `${round(view.center[0], 5)},${round(view.center[1], 5)}`);
  p.set("z", String(round(view.zoom, 2)));
  if (view.from) p.set("from", view.from);
  if (view.to) p.set("to", view.to);
  if (view.layers.length) p.set("layers", view.layers.join(","));
  if (view.collection) p.set("collection", view.collection);
  if (view.q) p.set("q", view.q);
  // Commas, colons and slashes are legal in a query: keep the link readable.
  return p.toString().replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%2F/g, "/");
}

/** What a query string says about the view; anything malformed is ignored, never thrown. */
export function decodeView(search: string): Partial<ViewState> {
  const p = new URLSearchParams(search.startsWith("?") ? search.slice(1) : search);
  const out: Partial<ViewState> = {};
  const c = (p.get("c") ?? "").split(",").map(Number);
  if (c.length === 2 && c.every(Number.isFinite)) {
    out.center = [clamp(c[0], -180, 180), clamp(c[1], -85, 85)];
  }
  const z = Number(p.get("z"));
  if (p.has("z") && Number.isFinite(z)) out.zoom = clamp(z, 0, 22);
  for (const k of ["from", "to"] as const) {
    const v = p.get(k);
    if (v && DATE.test(v)) out[k] = v;
  }
  const layers = p.get("layers");
  if (layers) out.layers = layers.split(",").filter(Boolean);
  const collection = p.get("collection");
  if (collection) out.collection = collection;
  const q = p.get("q");
  if (q) out.q = q;
  return out;
}
