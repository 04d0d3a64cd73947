/**
 * The "Workflows" view beside the map: a switch in the top bar; the builder (and its graph
 * library) is loaded the first time it is opened, so the map page stays as light as it was.
 * `#workflows` in the address opens it directly.
 */

import type { App } from "../app";
import { h } from "../ui/dom";

export function workflowsView(app: App): void {
  const layout = document.querySelector<HTMLElement>("main.layout")!;
  const section = h("section", { class: "builder", "data-testid": "builder", hidden: true, style: "display: none", "aria-label": "Workflow builder" });
  layout.after(section);
  const mapButton = h("button", { type: "button", class: "view-switch", "data-testid": "view-map", "aria-pressed": "true" }, "Map");
  const flowButton = h("button", { type: "button", class: "view-switch", "data-testid": "view-workflows", "aria-pressed": "false" }, "Workflows");
  document.querySelector(".topbar h1")!.after(h("nav", { class: "view-switches", "aria-label": "Views" }, mapButton, flowButton));
  let loaded: Promise<unknown> | null = null;
  const showBuilder = (on: boolean) => {
    // style, not the hidden attribute: the layout's own display (grid) would win over it
    layout.style.display = on ? "none" : "";
    section.hidden = !on;
    section.style.display = on ? "" : "none";
    mapButton.setAttribute("aria-pressed", String(!on));
    flowButton.setAttribute("aria-pressed", String(on));
    if (on && !loaded) {
      loaded = import("./view")
        .then(({ BuilderView }) => new BuilderView(app, section))
        .catch((e) => {
          loaded = null; // the next switch tries again
          section.replaceChildren();
          app.status(`The workflow builder could not be loaded: ${(e as Error).message}`, "error");
        });
    }
    if (!on) app.map.resize();
    const hash = on ? "#workflows" : "";
    if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  };
  mapButton.addEventListener("click", () => showBuilder(false));
  flowButton.addEventListener("click", () => showBuilder(true));
  if (location.hash === "#workflows") showBuilder(true);
}
