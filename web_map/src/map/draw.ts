/** Drawing a search rectangle: press the button, then drag on the map (Escape cancels). */

import type maplibregl from "maplibre-gl";
import type { FeatureCollection } from "geojson";

const SOURCE = "sw-draw";

function rectangle(bbox: number[] | null): FeatureCollection {
  if (!bbox) return { type: "FeatureCollection", features: [] };
  const [w, s, e, n] = bbox;
  return {
    type: "FeatureCollection",
    features: [
      {
        type: "Feature",
        properties: {},
        geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
      },
    ],
  };
}

export class RectangleDraw {
  private bbox: number[] | null = null;

  constructor(private map: maplibregl.Map) {
    map.on("style.load", () => this.ensure());
    if (map.isStyleLoaded()) this.ensure();
  }

  private ensure(): void {
    if (this.map.getSource(SOURCE)) return;
    this.map.addSource(SOURCE, { type: "geojson", data: rectangle(this.bbox) });
    this.map.addLayer({ id: "sw-draw-fill", type: "fill", source: SOURCE, paint: { "fill-color": "#7a3ee0", "fill-opacity": 0.08 } });
    this.map.addLayer({
      id: "sw-draw-line",
      type: "line",
      source: SOURCE,
      paint: { "line-color": "#7a3ee0", "line-width": 2, "line-dasharray": [2, 1] },
    });
  }

  get current(): number[] | null {
    return this.bbox;
  }

  set(bbox: number[] | null): void {
    this.bbox = bbox;
    this.ensure();
    (this.map.getSource(SOURCE) as maplibregl.GeoJSONSource).setData(rectangle(bbox));
  }

  /** Let the user drag a rectangle; resolves with it, or null when cancelled. */
  draw(): Promise<number[] | null> {
    const map = this.map;
    const canvas = map.getCanvas();
    return new Promise((resolve) => {
      let start: maplibregl.LngLat | null = null;
      canvas.style.cursor = "crosshair";
      map.dragPan.disable();
      const finish = (bbox: number[] | null) => {
        map.off("mousedown", down);
        map.off("mousemove", move);
        map.off("mouseup", up);
        window.removeEventListener("keydown", key);
        map.dragPan.enable();
        canvas.style.cursor = "";
        if (bbox) this.set(bbox);
        resolve(bbox);
      };
      const boxOf = (a: maplibregl.LngLat, b: maplibregl.LngLat) => [
        Math.min(a.lng, b.lng),
        Math.min(a.lat, b.lat),
        Math.max(a.lng, b.lng),
        Math.max(a.lat, b.lat),
      ];
      const down = (e: maplibregl.MapMouseEvent) => {
        start = e.lngLat;
      };
      const move = (e: maplibregl.MapMouseEvent) => {
        if (start) this.set(boxOf(start, e.lngLat));
      };
      const up = (e: maplibregl.MapMouseEvent) => {
        if (!start) return;
        const box = boxOf(start, e.lngLat);
        finish(box[2] - box[0] > 0 && box[3] - box[1] > 0 ? box : null);
      };
      const key = (e: KeyboardEvent) => {
        if (e.key === "Escape") finish(null);
      };
      map.on("mousedown", down);
      map.on("mousemove", move);
      map.on("mouseup", up);
      window.addEventListener("keydown", key);
    });
  }
}
