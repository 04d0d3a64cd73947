/** Result footprints on the map, with hover and selection highlights shared with the list. */

import type maplibregl from "maplibre-gl";
import type { Feature, FeatureCollection } from "geojson";
import type { StacItem } from "../api/stac";
import { itemKey } from "../state/selection";

const SOURCE = "sw-footprints";
const FILL = "sw-footprints-fill";
const LINE = "sw-footprints-line";

export class Footprints {
  private hovered: string | null = null;
  private uids = new Set<string>();
  private hoverListeners: ((uid: string | null) => void)[] = [];
  private clickListeners: ((uid: string) => void)[] = [];

  constructor(private map: maplibregl.Map) {
    map.on("style.load", () => this.ensure());
    if (map.isStyleLoaded()) this.ensure();
    map.on("mousemove", FILL, (e) => {
      const uid = e.features?.[0]?.properties?.uid as string | undefined;
      map.getCanvas().style.cursor = uid ? "pointer" : "";
      if (uid && uid !== this.hovered) this.emitHover(uid);
    });
    map.on("mouseleave", FILL, () => {
      map.getCanvas().style.cursor = "";
      this.emitHover(null);
    });
    map.on("click", FILL, (e) => {
      const uid = e.features?.[0]?.properties?.uid as string | undefined;
      if (uid) this.clickListeners.forEach((fn) => fn(uid));
    });
  }

  /** The id of the first footprint layer: raster layers go below it. */
  static readonly firstLayer = FILL;

  private ensure(): void {
    if (this.map.getSource(SOURCE)) return;
    this.map.addSource(SOURCE, { type: "geojson", data: { type: "FeatureCollection", features: [] }, promoteId: "uid" });
    this.map.addLayer({
      id: FILL,
      type: "fill",
      source: SOURCE,
      paint: {
        "fill-color": ["case", ["boolean", ["feature-state", "selected"], false], "#e07a1f", "#1f6fe0"],
        "fill-opacity": ["case", ["boolean", ["feature-state", "hover"], false], 0.35, 0.08],
      },
    });
    this.map.addLayer({
      id: LINE,
      type: "line",
      source: SOURCE,
      paint: {
        "line-color": ["case", ["boolean", ["feature-state", "selected"], false], "#c0600a", "#1f57b0"],
        "line-width": ["case", ["boolean", ["feature-state", "hover"], false], 3, 1.2],
      },
    });
  }

  private emitHover(uid: string | null): void {
    this.highlight(uid);
    this.hoverListeners.forEach((fn) => fn(uid));
  }

  onHover(fn: (uid: string | null) => void): void {
    this.hoverListeners.push(fn);
  }

  onClick(fn: (uid: string) => void): void {
    this.clickListeners.push(fn);
  }

  setItems(items: StacItem[], isSelected: (uid: string) => boolean): void {
    this.ensure();
    const features: Feature[] = items
      .filter((i) => i.geometry)
      .map((i) => ({
        type: "Feature",
        geometry: i.geometry!,
        properties: { uid: itemKey(i.collection, i.id) },
      }));
    const data: FeatureCollection = { type: "FeatureCollection", features };
    (this.map.getSource(SOURCE) as maplibregl.GeoJSONSource).setData(data);
    this.hovered = null;
    this.uids = new Set(features.map((f) => f.properties!.uid as string));
    for (const uid of this.uids) this.map.setFeatureState({ source: SOURCE, id: uid }, { selected: isSelected(uid), hover: false });
  }

  setSelected(uid: string, selected: boolean): void {
    if (this.uids.has(uid)) this.map.setFeatureState({ source: SOURCE, id: uid }, { selected });
  }

  /** Highlight one footprint (null: none). */
  highlight(uid: string | null): void {
    if (this.hovered && this.uids.has(this.hovered)) {
      this.map.setFeatureState({ source: SOURCE, id: this.hovered }, { hover: false });
    }
    this.hovered = uid;
    if (uid && this.uids.has(uid)) this.map.setFeatureState({ source: SOURCE, id: uid }, { hover: true });
  }
}
