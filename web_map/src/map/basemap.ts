/** Basemaps: the offline land/sea map (Natural Earth from world-atlas), or a configured one. */

import type { StyleSpecification } from "maplibre-gl";
import type { FeatureCollection } from "geojson";
import { feature, mesh } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import countriesUrl from "world-atlas/countries-50m.json?url";
import { fixGeometry } from "./antimeridian";

export const SEA = "#c9dbe6";
export const LAND = "#f3f1ea";
export const BORDER = "#b9b2a3";

/** Our own sources and layers start with this, so a basemap swap can keep them. */
export const OWN = "sw-";

const empty: FeatureCollection = { type: "FeatureCollection", features: [] };

/** The offline style: sea as background, land and borders filled in once the data arrives. */
export function offlineStyle(): StyleSpecification {
  return {
    version: 8,
    name: "stacworks offline",
    sources: {
      "basemap-land": { type: "geojson", data: empty, attribution: "Natural Earth" },
      "basemap-borders": { type: "geojson", data: empty },
    },
    layers: [
      { id: "basemap-sea", type: "background", paint: { "background-color": SEA } },
      { id: "basemap-land", type: "fill", source: "basemap-land", paint: { "fill-color": LAND } },
      {
        id: "basemap-borders",
        type: "line",
        source: "basemap-borders",
        paint: { "line-color": BORDER, "line-width": 0.6 },
      },
    ],
  };
}

/** Natural Earth 1:50m countries, converted from TopoJSON to GeoJSON. */
export async function loadCountries(): Promise<{ land: FeatureCollection; borders: FeatureCollection }> {
  const res = await fetch(countriesUrl);
  if (!res.ok) throw new Error("the offline basemap data could not be loaded");
  const topo = (await res.json()) as Topology<{ countries: GeometryCollection; land: GeometryCollection }>;
  const land = feature(topo, topo.objects.land) as unknown as FeatureCollection;
  land.features = land.features.map((f) => ({ ...f, geometry: fixGeometry(f.geometry) }));
  const borders = fixGeometry(mesh(topo, topo.objects.countries, (a, b) => a !== b));
  return { land, borders: { type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: borders }] } };
}

/** A style for an XYZ raster template ("https://tile.openstreetmap.org/{z}/{x}/{y}.png"). */
export function rasterStyle(template: string): StyleSpecification {
  return {
    version: 8,
    sources: { "basemap-raster": { type: "raster", tiles: [template], tileSize: 256, attribution: "basemap" } },
    layers: [
      { id: "basemap-sea", type: "background", paint: { "background-color": SEA } },
      { id: "basemap-raster", type: "raster", source: "basemap-raster" },
    ],
  };
}

/** What a basemap setting means: offline, an XYZ template, or a MapLibre style URL. */
export function basemapKind(setting: string): "offline" | "xyz" | "style" {
  if (!setting.trim()) return "offline";
  return /\{z\}/.test(setting) ? "xyz" : "style";
}
