/** What the panels share: the map, the APIs, the stores, and a few app-wide actions. */

import type maplibregl from "maplibre-gl";
import type { IngestApi } from "./api/ingest";
import type { JobsApi } from "./api/jobs";
import type { StacApi, StacCollection, StacItem } from "./api/stac";
import type { TilesApi } from "./api/tiles";
import type { RectangleDraw } from "./map/draw";
import type { Footprints } from "./map/footprints";
import type { LayerStore } from "./map/layers";
import type { SelectionStore } from "./state/selection";

export interface App {
  map: maplibregl.Map;
  stac: StacApi;
  tiles: TilesApi;
  jobs: JobsApi;
  ingest: IngestApi;
  layers: LayerStore;
  footprints: Footprints;
  draw: RectangleDraw;
  selection: SelectionStore;
  collections: Map<string, StacCollection>;
  /** A message in the status line (errors are shown, never thrown at the user). */
  status(message: string, kind?: "info" | "error"): void;
  /** Show an item: its tiles on the map, its metadata and assets. */
  preview(item: StacItem): void;
  /** The view changed: write it to the URL. */
  viewChanged(): void;
  /** Hooks the panels register so others can reach them. */
  on: AppEvents;
}

export interface AppEvents {
  collectionsLoaded: ((c: StacCollection[]) => void)[];
  searchCollection: ((id: string) => void)[];
}

export function emit<K extends keyof AppEvents>(app: App, name: K, ...args: Parameters<AppEvents[K][number]>): void {
  for (const fn of app.on[name]) (fn as (...a: typeof args) => void)(...args);
}
