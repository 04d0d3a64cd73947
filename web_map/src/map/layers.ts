/** Raster layers (collection mosaics, item previews, job outputs): order, visibility, opacity. */

import type maplibregl from "maplibre-gl";
import { Footprints } from "./footprints";

export type LayerKind = "collection" | "item" | "job" | "preview";

export interface MapLayer {
  id: string; // "collection:<id>", "item:<collection>/<id>", "job:<id>", "preview"
  title: string;
  kind: LayerKind;
  tiles: string[]; // XYZ templates, one map source each
  wmts?: string;
  bounds?: number[];
  visible: boolean;
  opacity: number; // 0..1
  /** The collection the layer shows (a collection mosaic, a job's output collection): shareable. */
  collection?: string;
  /** The layer ids a web map link needs to show this layer again (for share links). */
  linkLayers?: string[];
}

interface Entry extends MapLayer {
  key: string; // our map source/layer id prefix
}

let counter = 0;

/** Layers bottom to top; every change is applied to the map and told to subscribers. */
export class LayerStore {
  private layers: Entry[] = [];
  private listeners = new Set<() => void>();

  constructor(private map: maplibregl.Map) {
    // A basemap swap keeps our layers (transformStyle), but re-apply the order to be safe.
    map.on("style.load", () => this.sync());
  }

  list(): MapLayer[] {
    return this.layers.map(({ key: _k, ...l }) => l);
  }

  get(id: string): MapLayer | undefined {
    return this.list().find((l) => l.id === id);
  }

  /** The layer a map source belongs to. */
  bySource(sourceId: string): MapLayer | undefined {
    const e = this.layers.find((l) => sourceId.startsWith(`${l.key}-`));
    return e && this.get(e.id);
  }

  has(id: string): boolean {
    return this.layers.some((l) => l.id === id);
  }

  subscribe(fn: () => void): void {
    this.listeners.add(fn);
  }

  private changed(): void {
    this.listeners.forEach((fn) => fn());
  }

  /** Add on top (or replace a layer with the same id, keeping its place). */
  add(layer: MapLayer): void {
    const at = this.layers.findIndex((l) => l.id === layer.id);
    if (at >= 0) this.removeFromMap(this.layers[at]);
    const entry: Entry = { ...layer, key: `sw-raster-${++counter}` };
    if (at >= 0) this.layers[at] = entry;
    else this.layers.push(entry);
    this.addToMap(entry);
    this.sync();
    this.changed();
  }

  /** Draw every layer again from fresh sources (the credential changed: tiles are fetched anew). */
  reload(): void {
    for (const e of this.layers) this.removeFromMap(e);
    for (const e of this.layers) this.addToMap(e);
    this.sync();
  }

  remove(id: string): void {
    const entry = this.layers.find((l) => l.id === id);
    if (!entry) return;
    this.removeFromMap(entry);
    this.layers = this.layers.filter((l) => l !== entry);
    this.changed();
  }

  setVisible(id: string, visible: boolean): void {
    this.update(id, (e) => {
      e.visible = visible;
      this.sources(e).forEach((k) => this.map.getLayer(k) && this.map.setLayoutProperty(k, "visibility", visible ? "visible" : "none"));
    });
  }

  setOpacity(id: string, opacity: number): void {
    this.update(id, (e) => {
      e.opacity = opacity;
      this.sources(e).forEach((k) => this.map.getLayer(k) && this.map.setPaintProperty(k, "raster-opacity", opacity));
    });
  }

  /** Move a layer up (+1, drawn above the next) or down (-1). */
  move(id: string, delta: 1 | -1): void {
    const i = this.layers.findIndex((l) => l.id === id);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= this.layers.length) return;
    [this.layers[i], this.layers[j]] = [this.layers[j], this.layers[i]];
    this.sync();
    this.changed();
  }

  private update(id: string, fn: (e: Entry) => void): void {
    const e = this.layers.find((l) => l.id === id);
    if (!e) return;
    fn(e);
    this.changed();
  }

  private sources(e: Entry): string[] {
    return e.tiles.map((_, i) => `${e.key}-${i}`);
  }

  private addToMap(e: Entry): void {
    e.tiles.forEach((template, i) => {
      const key = `${e.key}-${i}`;
      const bounds = e.bounds && e.bounds.length >= 4 ? clampBounds(e.bounds) : undefined;
      this.map.addSource(key, { type: "raster", tiles: [template], tileSize: 256, ...(bounds ? { bounds } : {}) });
      this.map.addLayer({
        id: key,
        type: "raster",
        source: key,
        layout: { visibility: e.visible ? "visible" : "none" },
        paint: { "raster-opacity": e.opacity },
      });
    });
  }

  private removeFromMap(e: Entry): void {
    for (const k of this.sources(e)) {
      if (this.map.getLayer(k)) this.map.removeLayer(k);
      if (this.map.getSource(k)) this.map.removeSource(k);
    }
  }

  /** Put the map's raster layers in our order, all below the footprints. */
  private sync(): void {
    const before = this.map.getLayer(Footprints.firstLayer) ? Footprints.firstLayer : undefined;
    for (const e of this.layers) for (const k of this.sources(e)) if (this.map.getLayer(k)) this.map.moveLayer(k, before);
  }
}

function clampBounds(b: number[]): [number, number, number, number] {
  const [w, s, e, n] = b.length === 6 ? [b[0], b[1], b[3], b[4]] : b;
  return [Math.max(w, -180), Math.max(s, -85.051129), Math.min(e, 180), Math.min(n, 85.051129)];
}
