/** The selected state's form: its name, what its kind needs, Retry/Catch, a timeout, and the
 * algorithm's parameters from its JSON Schema (fixed in the state, or taken from the run). */

import { type Field, type JsonSchema, fieldsFromSchema, parseValues } from "../state/form";
import { fieldControl } from "../ui/fields";
import { h } from "../ui/dom";
import type { NodeData } from "./canvas";
import type { Json, JsonObject } from "./model";
import { type Algorithm, setTaskParameters, setTaskVersion, taskAlgorithm, taskParameters } from "./states";

export interface InspectorHost {
  /** Apply a change to the node (validated by the caller). */
  apply(patch: Partial<NodeData>): void;
  remove(): void;
  /** An algorithm's versions (for a Task's version choice and its parameters' schema). */
  versions(name: string): Promise<Algorithm[]>;
  /** Whether another state already has this name. */
  nameTaken(name: string): boolean;
}

const RETRY_DEFAULT: JsonObject = { ErrorEquals: ["States.TaskFailed"], IntervalSeconds: 5, MaxAttempts: 2, BackoffRate: 2 };

function jsonArea(label: string, testid: string, value: Json | undefined, onValue: (v: Json | undefined) => void, hint?: string): HTMLElement {
  const area = h("textarea", { rows: 4, "data-testid": testid, spellcheck: "false" }, value === undefined ? "" : JSON.stringify(value, null, 2));
  const error = h("p", { class: "error", role: "alert" });
  area.addEventListener("change", () => {
    const text = area.value.trim();
    try {
      onValue(text ? (JSON.parse(text) as Json) : undefined);
      error.textContent = "";
    } catch (e) {
      error.textContent = `${label}: not JSON (${(e as Error).message})`;
    }
  });
  return h("label", { class: "field" }, h("span", { class: "label" }, label), area, hint ? h("small", {}, hint) : null, error);
}

function textInput(label: string, testid: string, value: unknown, onValue: (v: string) => void, type = "text", hint?: string): HTMLElement {
  const input = h("input", { type, "data-testid": testid, value: value === undefined || value === null ? "" : String(value) });
  input.addEventListener("change", () => onValue(input.value));
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input, hint ? h("small", {}, hint) : null);
}

function control(f: Field): HTMLElement {
  return fieldControl(f, { name: f.name, "data-param": f.name });
}

/** Set a form's controls to the values a Task fixes. */
function fill(form: HTMLElement, values: JsonObject): void {
  for (const el of form.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>("[data-param]")) {
    const v = values[el.name];
    if (v === undefined) continue;
    if (el instanceof HTMLInputElement && el.type === "checkbox") el.checked = v === true;
    else el.value = typeof v === "string" ? v : JSON.stringify(v);
  }
}

export function renderInspector(mount: HTMLElement, id: string, d: NodeData, host: InspectorHost): void {
  const set = (key: string, value: Json | undefined) => {
    const body = structuredClone(d.body);
    if (value === undefined || value === "") delete body[key];
    else body[key] = value;
    d = { ...d, body };
    host.apply({ body });
  };
  const num = (v: string): number | undefined => (v.trim() === "" ? undefined : Number(v));
  const nameError = h("p", { class: "error", role: "alert" });
  const parts: (HTMLElement | null)[] = [
    h("h3", {}, `${d.kind} state`),
    textInput("Name", "builder-node-name", d.name, (v) => {
      const name = v.trim();
      if (!/^[A-Za-z0-9_-][A-Za-z0-9 _-]{0,79}$/.test(name)) nameError.textContent = "A name is 1 to 80 letters, digits, spaces, - or _.";
      else if (name !== d.name && host.nameTaken(name)) nameError.textContent = `Another state is named ${name}.`;
      else {
        nameError.textContent = "";
        d = { ...d, name };
        host.apply({ name });
      }
    }),
    nameError,
    textInput("Comment", "builder-node-comment", d.body.Comment, (v) => set("Comment", v || undefined)),
  ];
  const b = d.body;
  switch (d.kind) {
    case "Task": {
      const algo = taskAlgorithm(b);
      if (algo) parts.push(taskSection(algo, () => d.body, host, (body) => {
        d = { ...d, body };
        host.apply({ body });
      }));
      parts.push(textInput("Timeout (seconds)", "builder-node-timeout", b.TimeoutSeconds, (v) => set("TimeoutSeconds", num(v)), "number", "The task fails with States.Timeout after this long."));
      break;
    }
    case "Map":
      parts.push(
        textInput("Items", "builder-map-items", b.ItemsPath, (v) => set("ItemsPath", v || undefined), "text", "A JSON path: $.items is the map's current selection."),
        textInput("At most at once", "builder-map-concurrency", b.MaxConcurrency, (v) => set("MaxConcurrency", num(v)), "number", "0: no limit."),
        textInput("Result path", "builder-node-resultpath", b.ResultPath, (v) => set("ResultPath", v === "null" ? null : v || undefined)),
      );
      break;
    case "Parallel":
      parts.push(textInput("Result path", "builder-node-resultpath", b.ResultPath, (v) => set("ResultPath", v === "null" ? null : v || undefined)), h("p", { class: "muted" }, "Each chain of states dropped in here is one branch; all run at once."));
      break;
    case "Choice":
      parts.push(
        choiceRules(Array.isArray(b.Choices) ? b.Choices : [], (rules) => set("Choices", rules)),
        jsonArea("Rules (JSON)", "builder-choice-rules", b.Choices, (v) => set("Choices", v), "For And/Or/Not and other comparisons."),
      );
      break;
    case "Wait":
      parts.push(textInput("Seconds", "builder-wait-seconds", b.Seconds, (v) => set("Seconds", num(v)), "number"));
      break;
    case "Fail":
      parts.push(textInput("Error", "builder-fail-error", b.Error, (v) => set("Error", v || undefined)), textInput("Cause", "builder-fail-cause", b.Cause, (v) => set("Cause", v || undefined)));
      break;
    default:
      break;
  }
  if (d.kind === "Task" || d.kind === "Map" || d.kind === "Parallel") {
    const addRetry = h("button", { type: "button", "data-testid": "builder-add-retry" }, "Add a retry");
    addRetry.addEventListener("click", () => {
      set("Retry", [...(Array.isArray(b.Retry) ? b.Retry : []), RETRY_DEFAULT]);
      renderInspector(mount, id, d, host);
    });
    parts.push(
      jsonArea("Retry", "builder-node-retry", b.Retry, (v) => set("Retry", v), "Retriers: ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate."),
      addRetry,
      jsonArea("Catch", "builder-node-catch", b.Catch, (v) => set("Catch", v), "Connect from the red side port to add a catcher; its Next is that connection."),
    );
  }
  const rest: JsonObject = structuredClone(b);
  parts.push(h("details", { class: "advanced" }, h("summary", {}, "All fields (JSON)"), jsonArea("Fields", "builder-node-json", rest, (v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      d = { ...d, body: v };
      host.apply({ body: v });
    }
  })));
  const remove = h("button", { type: "button", class: "danger", "data-testid": "builder-remove-node" }, "Remove this state");
  remove.addEventListener("click", () => host.remove());
  parts.push(remove);
  mount.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}

function taskSection(algo: { name: string; version: string | null }, bodyNow: () => JsonObject, host: InspectorHost, apply: (body: JsonObject) => void): HTMLElement {
  const section = h("div", { class: "task-section" });
  const version = h("select", { "data-testid": "builder-task-version" }, h("option", { value: "" }, "latest"));
  const fixed = taskParameters(bodyNow());
  const fix = h("input", { type: "checkbox", "data-testid": "builder-param-fixed", checked: fixed !== null });
  const form = h("form", { class: "params", "aria-label": "Algorithm parameters" });
  const errors = h("p", { class: "error", role: "alert" });
  let fields: Field[] = [];
  let loaded = false;
  const apply2 = () => {
    const body = structuredClone(bodyNow()); // with what the other fields changed meanwhile
    if (loaded) setTaskVersion(body, version.value || null); // else the choice is not shown yet
    if (fix.checked) {
      const raw: Record<string, string | boolean> = {};
      for (const el of form.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>("[data-param]")) {
        raw[el.name] = el instanceof HTMLInputElement && el.type === "checkbox" ? el.checked : el.value;
      }
      const { values, errors: bad } = parseValues(fields, raw);
      errors.textContent = Object.values(bad).join("; ");
      if (Object.keys(bad).length) return;
      setTaskParameters(body, values as JsonObject);
    } else setTaskParameters(body, null);
    apply(body);
  };
  version.addEventListener("change", apply2);
  fix.addEventListener("change", () => {
    form.hidden = !fix.checked;
    apply2();
  });
  form.addEventListener("change", apply2);
  form.addEventListener("submit", (e) => e.preventDefault());
  form.hidden = fixed === null;
  section.append(
    h("p", {}, h("b", {}, algo.name), " ", h("span", { class: "muted" }, "algorithm")),
    h("label", { class: "field" }, h("span", { class: "label" }, "Version"), version),
    h("label", { class: "field check" }, fix, h("span", {}, "Set the parameters here"), h("small", {}, "Else they come from the run's input ($.parameters).")),
    form,
    errors,
  );
  void host.versions(algo.name).then((versions) => {
    version.append(...versions.map((v) => h("option", { value: v.version, selected: v.version === algo.version }, `${v.version} · ${v.cpu / 1024} vCPU · ${v.memory / 1024} GB`)));
    const spec = versions.find((v) => v.version === algo.version) ?? versions[versions.length - 1];
    fields = fieldsFromSchema((spec?.parameters ?? {}) as JsonSchema);
    form.replaceChildren(
      ...fields.map((f) =>
        h("label", { class: f.kind === "boolean" ? "field check" : "field" }, h("span", { class: "label" }, f.label), control(f), f.description ? h("small", {}, f.description) : null),
      ),
    );
    if (!fields.length) form.append(h("p", { class: "muted" }, "This algorithm takes no parameters."));
    if (fixed) fill(form, fixed);
    loaded = true;
  }).catch(() => {
    errors.textContent = `The algorithm ${algo.name} is not registered here.`;
  });
  return section;
}

/** Comparisons a rule form offers (others, and And/Or/Not, are edited as JSON). */
const OPERATORS: [string, string][] = [
  ["NumericGreaterThanEquals", "≥"], ["NumericGreaterThan", ">"], ["NumericLessThanEquals", "≤"], ["NumericLessThan", "<"],
  ["NumericEquals", "= (number)"], ["StringEquals", "= (text)"], ["StringMatches", "matches"], ["BooleanEquals", "is (true/false)"],
  ["IsPresent", "is present (true/false)"],
];

function typedValue(op: string, text: string): Json {
  if (op.startsWith("Numeric")) return Number(text);
  if (op === "BooleanEquals" || op === "IsPresent") return text.trim() === "true";
  return text;
}

/** One line per Choice rule: an output value (a JSON path), a comparison, a value. The rule's
 * Next is the connection leaving the node's bottom port in the same order. */
function choiceRules(rules: Json[], onRules: (rules: Json[]) => void): HTMLElement {
  const list = h("div", { class: "choice-rules", "data-testid": "builder-choice-form" });
  const current = [...rules]; // edits of several rules add up
  rules.forEach((rule, i) => {
    const r = rule && typeof rule === "object" && !Array.isArray(rule) ? (rule as JsonObject) : null;
    const op = r ? Object.keys(r).find((k) => OPERATORS.some(([o]) => o === k)) : undefined;
    if (!r || !op || typeof r.Variable !== "string" || Object.keys(r).length !== 2) {
      list.append(h("p", { class: "muted" }, `Rule ${i + 1}: ${JSON.stringify(rule)} (edit as JSON below)`));
      return;
    }
    const variable = h("input", { type: "text", value: r.Variable, "aria-label": `Rule ${i + 1}: value at`, "data-testid": "builder-rule-variable" });
    const select = h("select", { "aria-label": `Rule ${i + 1}: comparison`, "data-testid": "builder-rule-op" }, ...OPERATORS.map(([o, label]) => h("option", { value: o, selected: o === op }, label)));
    const value = h("input", { type: "text", value: String(r[op]), "aria-label": `Rule ${i + 1}: compared with`, "data-testid": "builder-rule-value" });
    const change = () => {
      current[i] = { Variable: variable.value.trim(), [select.value]: typedValue(select.value, value.value) };
      onRules([...current]);
    };
    for (const el of [variable, select, value]) el.addEventListener("change", change);
    list.append(h("div", { class: "row rule" }, h("span", {}, `${i + 1}.`), variable, select, value));
  });
  if (!rules.length) list.append(h("p", { class: "muted" }, "No rule yet: connect the bottom port to the state a rule leads to."));
  return h("div", { class: "field" }, h("span", { class: "label" }, "Rules (first true wins; the side port is the default)"), list);
}
