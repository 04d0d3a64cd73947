/** One input per JSON Schema field kind: the launch panel and the builder's state form both
 * draw algorithm parameters, and must draw (and later parse) them the same way. */

import { type Field, initialText, optionValue } from "../state/form";
import { h } from "./dom";

/** The control for ``f``; ``attrs`` names it (and adds e.g. ``required``, ``aria-*``). */
export function fieldControl(f: Field, attrs: Record<string, string | boolean | undefined>): HTMLElement {
  switch (f.kind) {
    case "boolean":
      return h("input", { ...attrs, type: "checkbox", checked: f.default === true });
    case "number":
    case "integer":
      return h("input", { ...attrs, type: "number", step: f.kind === "integer" ? 1 : "any", min: f.minimum, max: f.maximum, value: initialText(f) });
    case "enum":
      return h("select", attrs, ...(f.options ?? []).map((o) => h("option", { value: optionValue(o), selected: optionValue(o) === initialText(f) }, optionValue(o))));
    case "json":
      return h("textarea", { ...attrs, rows: 2 }, initialText(f));
    default:
      return h("input", { ...attrs, type: "text", value: initialText(f) });
  }
}
