/** Layers panel: visibility, opacity, order, zoom, and the XYZ / WMTS URLs for QGIS. */

import type { App } from "../app";
import { basemapSetting, saveBasemapSetting } from "../config";
import type { MapLayer } from "../map/layers";
import { fitBbox, setBasemap } from "../map/mapview";
import { copyText, field, h, panel } from "../ui/dom";
import { type ShareState, shareControl } from "./share";

function urlRow(label: string, value: string, testid?: string): HTMLElement {
  const input = h("input", { type: "text", readonly: true, value, "aria-label": label, "data-testid": testid });
  const copy = h("button", { type: "button", "aria-label": `Copy ${label}` }, "Copy");
  copy.addEventListener("click", () => void copyText(value, copy));
  return h("div", { class: "url-row" }, h("span", { class: "label" }, label.split(" ")[0]), input, copy);
}

function layerItem(app: App, l: MapLayer, index: number, count: number, share: HTMLElement | null): HTMLLIElement {
  const visible = h("input", { type: "checkbox", checked: l.visible, "aria-label": `Show ${l.title}` });
  visible.addEventListener("change", () => {
    app.layers.setVisible(l.id, visible.checked);
    app.viewChanged();
  });
  const opacity = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: l.opacity, "aria-label": `Opacity of ${l.title}` });
  opacity.addEventListener("input", () => app.layers.setOpacity(l.id, Number(opacity.value)));
  // The list shows the top layer first: "up" draws it above the next one.
  return h("li", { class: "layer", "data-testid": "layer-item", "data-layer-id": l.id },
    h("div", { class: "layer-head" },
      h("label", { class: "layer-title" }, visible, " ", h("span", { title: l.id }, l.title)),
      h("button", { type: "button", class: "icon", "aria-label": `Move ${l.title} up`, disabled: index === count - 1, onclick: () => app.layers.move(l.id, 1) }, "↑"),
      h("button", { type: "button", class: "icon", "aria-label": `Move ${l.title} down`, disabled: index === 0, onclick: () => app.layers.move(l.id, -1) }, "↓"),
      h("button", { type: "button", class: "icon", "aria-label": `Zoom to ${l.title}`, disabled: !l.bounds, onclick: () => l.bounds && fitBbox(app.map, l.bounds) }, "Zoom"),
      h("button", { type: "button", class: "icon", "aria-label": `Remove ${l.title}`, onclick: () => { app.layers.remove(l.id); app.viewChanged(); } }, "×"),
    ),
    field("Opacity", opacity),
    // What a map client needs: with the signed-in key (or the page's share token) in it.
    urlRow("XYZ template", app.credentials.sign(l.tiles[0] ?? "")),
    l.wmts ? urlRow("WMTS capabilities", app.credentials.sign(l.wmts), "layer-wmts-url") : null,
    share,
  );
}

export function layersPanel(app: App, mount: HTMLElement): void {
  const { root, body } = panel("layers-panel", "Layers");
  const catalogWmts = h("a", { href: app.credentials.sign(`${app.tiles.base}/WMTSCapabilities.xml`), target: "_blank", rel: "noopener" }, "WMTSCapabilities.xml");
  const list = h("ul", { class: "layers" });
  const shares = new Map<string, ShareState>(); // per collection, kept across re-renders
  const shareOf = (l: MapLayer) => {
    if (!l.collection) return null;
    let state = shares.get(l.collection);
    if (!state) shares.set(l.collection, (state = { open: false, days: "7" }));
    return shareControl(app, l as MapLayer & { collection: string }, state, render);
  };
  const render = () => {
    const layers = app.layers.list();
    list.replaceChildren(
      ...(layers.length
        ? layers.map((l, i) => layerItem(app, l, i, layers.length, shareOf(l))).reverse()
        : [h("li", { class: "muted" }, "No layers yet: show a collection, preview an item, or run a workflow.")]),
    );
  };
  app.layers.subscribe(render);
  app.credentials.subscribe(() => {
    shares.clear(); // another principal: what it may do is asked again
    render();
    catalogWmts.href = app.credentials.sign(`${app.tiles.base}/WMTSCapabilities.xml`);
  });
  render();

  const basemap = h("input", { type: "url", value: basemapSetting(), placeholder: "offline land/sea map" });
  const basemapForm = h("form", { class: "basemap" },
    field("Basemap (style URL or XYZ template; empty: offline)", basemap),
    h("button", { type: "submit" }, "Apply"),
  );
  basemapForm.addEventListener("submit", (e) => {
    e.preventDefault();
    saveBasemapSetting(basemap.value.trim());
    setBasemap(app.map, basemap.value.trim(), (m) => app.status(m, "error"));
  });
  body.append(list, h("p", { class: "muted" }, "Catalog-wide WMTS: ", catalogWmts), basemapForm);
  mount.append(root);
}
