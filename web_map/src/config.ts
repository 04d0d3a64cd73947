/** Where the platform's services are: beside the page (same origin, same mount prefix). */

export interface Endpoints {
  stac: string;
  tiles: string;
  ingest: string;
  processes: string;
  jobs: string;
  admin: string;
}

/** Absolute base URLs (no trailing slash), resolved against the page so a proxy prefix works. */
export function endpoints(base: string = document.baseURI): Endpoints {
  const at = (path: string) => new URL(path, base).href.replace(/\/$/, "");
  return {
    stac: at("stac"),
    tiles: at("tiles"),
    ingest: at("ingest"),
    processes: at("processes"),
    jobs: at("jobs"),
    admin: at("admin"),
  };
}

const BASEMAP_KEY = "stacworks.basemap";

/**
 * The basemap: a MapLibre style URL or an XYZ raster template, from ?basemap=, then
 * localStorage, then the build's VITE_BASEMAP_STYLE; empty means the offline land/sea map.
 */
export function basemapSetting(search = location.search): string {
  const fromUrl = new URLSearchParams(search).get("basemap");
  if (fromUrl !== null) return fromUrl;
  return localStorage.getItem(BASEMAP_KEY) ?? (import.meta.env.VITE_BASEMAP_STYLE as string | undefined) ?? "";
}

export function saveBasemapSetting(value: string): void {
  if (value) localStorage.setItem(BASEMAP_KEY, value);
  else localStorage.removeItem(BASEMAP_KEY);
}
