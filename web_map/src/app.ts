/** What the panels share: the map, the APIs, the stores, and a few app-wide actions. */

import type maplibregl from "maplibre-gl";
import type { AdminApi } from "./api/admin";
import type { IngestApi } from "./api/ingest";
import type { JobsApi } from "./api/jobs";
import type { StacApi, StacCollection, StacItem } from "./api/stac";
import type { TilesApi } from "./api/tiles";
import type { CredentialStore } from "./auth/credentials";
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
  admin: AdminApi;
  /** The signed-in key or the page's share token, sent with every request to this platform. */
  credentials: CredentialStore;
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
  /** The current view (centre, zoom), for links. */
  view(): { center: [number, number]; zoom: number };
  /** Read the collections again (after signing in or out) and tell the panels. */
  reloadCollections(): Promise<void>;
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
