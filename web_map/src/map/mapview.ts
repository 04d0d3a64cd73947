/** The MapLibre map: created with the basemap, reports "loaded", swaps basemaps keeping our layers. */

import maplibregl, { type LngLatBoundsLike, type StyleSpecification } from "maplibre-gl";
import { OWN, basemapKind, loadCountries, offlineStyle, rasterStyle } from "./basemap";

export interface MapOptions {
  container: HTMLElement;
  center: [number, number];
  zoom: number;
  basemap: string;
  /** A map error; ``source`` is the map source whose tile failed, with the HTTP status. */
  onError: (message: string, source?: string, status?: number) => void;
  /** Rewrites the URL of every request the map makes (adds the credential to ours). */
  transformUrl?: (url: string) => string;
}

function styleFor(setting: string): StyleSpecification | string {
  const kind = basemapKind(setting);
  if (kind === "xyz") return rasterStyle(setting);
  if (kind === "style") return setting;
  return offlineStyle();
}

async function fillOffline(map: maplibregl.Map): Promise<void> {
  const { land, borders } = await loadCountries();
  (map.getSource("basemap-land") as maplibregl.GeoJSONSource | undefined)?.setData(land);
  (map.getSource("basemap-borders") as maplibregl.GeoJSONSource | undefined)?.setData(borders);
}

export function createMap(opts: MapOptions): maplibregl.Map {
  const map = new maplibregl.Map({
    container: opts.container,
    style: styleFor(opts.basemap),
    center: opts.center,
    zoom: opts.zoom,
    attributionControl: { compact: true },
    maxPitch: 0,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    transformRequest: opts.transformUrl ? (url) => ({ url: opts.transformUrl!(url) }) : undefined,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({}), "bottom-right");

  // "loaded" for tests and users alike: true whenever the map is idle (all tiles in).
  const el = opts.container;
  map.on("dataloading", () => el.setAttribute("data-loaded", "false"));
  map.on("idle", () => el.setAttribute("data-loaded", "true"));
  // Our own handler replaces MapLibre's console.error: a tile that fails is a status message.
  map.on("error", (e) => {
    const source = (e as unknown as { sourceId?: string }).sourceId;
    const status = (e.error as { status?: number } | undefined)?.status;
    opts.onError(e.error?.message ?? "map error", source, status);
  });
  map.once("style.load", () => {
    if (basemapKind(opts.basemap) === "offline") fillOffline(map).catch((e) => opts.onError(String(e.message ?? e)));
  });
  return map;
}

/** Replace the basemap; our sources and layers (ids starting "sw-") are carried over. */
export function setBasemap(map: maplibregl.Map, setting: string, onError: (m: string) => void): void {
  map.setStyle(styleFor(setting), {
    diff: false,
    transformStyle: (previous, next) => {
      if (!previous) return next;
      const sources = { ...next.sources };
      for (const [id, src] of Object.entries(previous.sources)) if (id.startsWith(OWN)) sources[id] = src;
      const ours = previous.layers.filter((l) => l.id.startsWith(OWN));
      return { ...next, sources, layers: [...next.layers, ...ours] };
    },
  });
  map.once("style.load", () => {
    if (basemapKind(setting) === "offline") fillOffline(map).catch((e) => onError(String(e.message ?? e)));
  });
}

/** Fit the map to a bbox (west, south, east, north), with room for the panels. */
export function fitBbox(map: maplibregl.Map, bbox: number[], maxZoom = 14): void {
  const [w, s, e, n] = bbox.length === 6 ? [bbox[0], bbox[1], bbox[3], bbox[4]] : bbox;
  const bounds: LngLatBoundsLike = [
    [Math.max(w, -180), Math.max(s, -85)],
    [Math.min(e, 180), Math.min(n, 85)],
  ];
  map.fitBounds(bounds, { padding: 40, maxZoom, duration: 0 });
}

/** The union of several bboxes. */
export function unionBbox(bboxes: (number[] | undefined)[]): number[] | null {
  const valid = bboxes.filter((b): b is number[] => Array.isArray(b) && b.length >= 4);
  if (!valid.length) return null;
  const flat = valid.map((b) => (b.length === 6 ? [b[0], b[1], b[3], b[4]] : b));
  return [
    Math.min(...flat.map((b) => b[0])),
    Math.min(...flat.map((b) => b[1])),
    Math.max(...flat.map((b) => b[2])),
    Math.max(...flat.map((b) => b[3])),
  ];
}
