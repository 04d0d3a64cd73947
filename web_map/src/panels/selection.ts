/** The selection cart: what the workflow will run on; kept across reloads. */

import type { App } from "../app";
import { fitBbox, unionBbox } from "../map/mapview";
import { day, h, panel } from "../ui/dom";

export function selectionPanel(app: App, mount: HTMLElement): void {
  const { root, body } = panel("selection-panel", "Selection");
  const count = h("strong", { "data-testid": "selection-count", "aria-live": "polite" }, "0");
  const list = h("ul", { class: "selection" });
  const clear = h("button", { type: "button", onclick: () => app.selection.clear() }, "Clear selection");
  const zoom = h("button", {
    type: "button",
    onclick: () => {
      const b = unionBbox(app.selection.list().map((i) => i.bbox));
      if (b) fitBbox(app.map, b, 12);
    },
  }, "Zoom to selection");
  const render = () => {
    const items = app.selection.list();
    count.textContent = String(items.length);
    clear.disabled = zoom.disabled = items.length === 0;
    list.replaceChildren(
      ...items.map((i) =>
        h("li", {},
          h("span", { class: "id", title: i.id }, i.id),
          h("span", { class: "muted" }, ` ${i.collection} ${day(i.datetime)}`),
          h("button", { type: "button", class: "icon", "aria-label": `Remove ${i.id} from the selection`, onclick: () => app.selection.remove(i.collection, i.id) }, "×"),
        ),
      ),
    );
  };
  app.selection.subscribe(render);
  render();
  body.append(h("p", {}, count, " item(s) selected"), list, h("div", { class: "buttons" }, zoom, clear));
  mount.append(root);
}
