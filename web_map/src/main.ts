/** The stacworks web map: wires the map, the APIs, the stores and the panels together. */

import "maplibre-gl/dist/maplibre-gl.css";
import "./styles.css";
import type { App } from "./app";
import { emit } from "./app";
import { AdminApi } from "./api/admin";
import { HttpError, setAuthProvider } from "./api/http";
import { IngestApi } from "./api/ingest";
import { JobsApi } from "./api/jobs";
import { StacApi, type StacItem } from "./api/stac";
import { TilesApi } from "./api/tiles";
import { CredentialStore, tokenFromSearch } from "./auth/credentials";
import { basemapSetting, endpoints } from "./config";
import { RectangleDraw } from "./map/draw";
import { Footprints } from "./map/footprints";
import { LayerStore } from "./map/layers";
import { createMap } from "./map/mapview";
import { collectionsPanel, showCollection } from "./panels/collections";
import { IngestPanel } from "./panels/ingest";
import { JobsPanel, addJobLayer } from "./panels/jobs";
import { layersPanel } from "./panels/layers";
import { PREVIEW_LAYER, PreviewPanel, itemLayer } from "./panels/preview";
import { SearchPanel } from "./panels/search";
import { TriggersPanel } from "./panels/triggers";
import { selectionPanel } from "./panels/selection";
import { signInControl } from "./panels/signin";
import { WorkflowPanel } from "./panels/workflow";
import { workflowsView } from "./builder/tab";
import { SelectionStore } from "./state/selection";
import { decodeView, encodeView } from "./state/url";

const DEFAULT_VIEW = { center: [0, 20] as [number, number], zoom: 1.5 };

function statusLine(): App["status"] {
  const el = document.getElementById("status")!;
  let timer: number | undefined;
  return (message, kind = "info") => {
    el.textContent = message;
    el.className = `status ${kind}`;
    window.clearTimeout(timer);
    timer = window.setTimeout(() => (el.textContent = ""), kind === "error" ? 12000 : 6000);
  };
}

function main(): void {
  const api = endpoints();
  const initial = decodeView(location.search);
  const status = statusLine();
  // The signed-in key (or the share token the page was opened with) goes with every request
  // to this platform: Bearer on API calls, key= / token= on what the map fetches itself.
  const credentials = new CredentialStore(localStorage, tokenFromSearch(location.search), location.origin);
  setAuthProvider((url) => credentials.headers(url));
  const mapEl = document.getElementById("map")!;
  const map = createMap({
    container: mapEl,
    center: initial.center ?? DEFAULT_VIEW.center,
    zoom: initial.zoom ?? DEFAULT_VIEW.zoom,
    basemap: basemapSetting(),
    onError: (message, source, code) => tileError(message, source, code),
    transformUrl: (url) => credentials.sign(url),
  });
  // One message per failing layer (not one per tile), in words.
  const reported = new Map<string, number>();
  const tileError = (message: string, source?: string, code?: number) => {
    const layer = source ? app.layers.bySource(source) : undefined;
    if (!layer) return status(message, "error");
    const last = reported.get(layer.id) ?? 0;
    if (Date.now() - last < 10000) return;
    reported.set(layer.id, Date.now());
    status(`Some tiles of "${layer.title}" could not be drawn${code ? ` (HTTP ${code})` : ""}.`, "error");
  };

  let search: SearchPanel | undefined;
  let preview: PreviewPanel | undefined;
  let restoring = true;
  const app: App = {
    map,
    stac: new StacApi(api.stac),
    tiles: new TilesApi(api.tiles),
    jobs: new JobsApi(api.processes, api.jobs),
    ingest: new IngestApi(api.ingest),
    admin: new AdminApi(api.admin),
    credentials,
    layers: new LayerStore(map),
    footprints: new Footprints(map),
    draw: new RectangleDraw(map),
    selection: new SelectionStore(localStorage),
    collections: new Map(),
    status,
    preview: (item: StacItem) => preview?.show(item),
    viewChanged: () => {
      if (restoring) return; // do not overwrite the link while it is being restored
      const c = map.getCenter();
      const query = encodeView({
        center: [c.lng, c.lat],
        zoom: map.getZoom(),
        layers: app.layers.list().filter((l) => l.visible && l.id !== PREVIEW_LAYER).map((l) => l.id),
        ...search?.state,
      });
      // A share link's token stays in the address: reloading or passing it on keeps working.
      const token = credentials.token ? `&token=${encodeURIComponent(credentials.token)}` : "";
      history.replaceState(null, "", `${location.pathname}?${query}${token}${location.hash}`);
    },
    view: () => {
      const c = map.getCenter();
      return { center: [c.lng, c.lat], zoom: map.getZoom() };
    },
    reloadCollections: async () => {
      try {
        const collections = await app.stac.collections();
        app.collections.clear();
        for (const c of collections) app.collections.set(c.id, c);
        emit(app, "collectionsLoaded", collections);
      } catch (e) {
        const refused = e instanceof HttpError && e.status === 401;
        status(
          refused && !credentials.signedIn && credentials.token
            ? "This share link is no longer valid (expired or revoked)."
            : refused
              ? "Your API key is no longer valid: sign out and sign in again."
              : `The catalog could not be read: ${(e as Error).message}`,
          "error",
        );
        app.collections.clear();
        emit(app, "collectionsLoaded", []);
      }
    },
    on: { collectionsLoaded: [], searchCollection: [] },
  };

  // A handle for automated browser tests and the console (read-only use, please).
  (window as unknown as { stacworksMap: unknown }).stacworksMap = map;

  signInControl(app, document.querySelector(".topbar")!);
  // Signing in or out changes what can be seen: read the catalog again, fetch tiles anew.
  credentials.subscribe(async () => {
    app.layers.reload();
    await app.reloadCollections();
    // Collection layers the new principal cannot see are taken off the map.
    for (const l of app.layers.list()) {
      if (l.kind === "collection" && l.collection && !app.collections.has(l.collection)) app.layers.remove(l.id);
    }
    app.viewChanged();
  });

  const left = document.getElementById("left")!;
  const right = document.getElementById("right")!;
  search = new SearchPanel(app, left);
  preview = new PreviewPanel(app, left);
  collectionsPanel(app, right);
  selectionPanel(app, right);
  const workflowMount = document.createElement("div");
  right.append(workflowMount); // the workflow form above the jobs it starts
  const jobs = new JobsPanel(app, right);
  new WorkflowPanel(app, workflowMount, jobs);
  layersPanel(app, right);
  new IngestPanel(app, right, () => ({ from: search!.state.from, to: search!.state.to, maxCloud: search!.maxCloudText }));
  new TriggersPanel(app, right, () => ({ collection: search!.state.collection, maxCloud: search!.maxCloudText }));
  search.restore(initial);
  workflowsView(app); // the workflow builder, beside the map

  map.on("moveend", () => app.viewChanged());

  map.once("load", async () => {
    await app.reloadCollections();
    await restoreLayers(app, initial.layers ?? []);
    restoring = false;
    app.viewChanged();
    if (initial.from || initial.to || initial.q || initial.collection) void search!.search();
  });
}

/** Bring back the layers a link names (collections, kept items, job outputs). */
async function restoreLayers(app: App, ids: string[]): Promise<void> {
  for (const id of ids) {
    const [kind, ...rest] = id.split(":");
    const ref = rest.join(":");
    try {
      if (kind === "collection") {
        const c = app.collections.get(ref);
        if (c) showCollection(app, c);
        else app.status(`Collection ${ref} is not visible to you: sign in, or ask for a new share link.`, "error");
      } else if (kind === "item") {
        const [collection, ...itemId] = ref.split("/");
        const item = await app.stac.item(`${app.stac.base}/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(itemId.join("/"))}`);
        const layer = itemLayer(app, item);
        if (typeof layer === "string") app.status(layer, "error");
        else app.layers.add(layer);
      } else if (kind === "job") {
        await addJobLayer(app, ref, "Workflow output", false);
      }
    } catch (e) {
      app.status(`Layer ${id} could not be restored: ${(e as Error).message}`, "error");
    }
  }
}

main();
