/** A tiny DOM builder: h("button", {type: "button", onclick: fn}, "Label"). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A collapsible panel: <details><summary><h2>; returns the body to fill. */
export function panel(id: string, title: string, open = true): { root: HTMLDetailsElement; body: HTMLDivElement } {
  const body = h("div", { class: "panel-body" });
  const root = h("details", { class: "panel", id, open }, h("summary", {}, h("h2", {}, title)), body);
  return { root, body };
}

/** A labelled form control in one block. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), control, hint ? h("small", {}, hint) : null);
}

/** A short date (YYYY-MM-DD) from an RFC 3339 datetime. */
export const day = (dt: unknown) => (typeof dt === "string" ? dt.slice(0, 10) : "");

export async function copyText(text: string, button: HTMLButtonElement): Promise<void> {
  const done = (label: string) => {
    const old = button.textContent;
    button.textContent = label;
    setTimeout(() => (button.textContent = old), 1500);
  };
  try {
    await navigator.clipboard.writeText(text);
    done("Copied");
  } catch {
    // No clipboard permission (http, headless): select the text so Ctrl+C works.
    const input = button.previousElementSibling;
    if (input instanceof HTMLInputElement) input.select();
    done("Press Ctrl+C");
  }
}
