/** Launch: pick a workflow, fill its parameters (from its JSON Schema), see the cost, run it. */

import type { App } from "../app";
import { HttpError } from "../api/http";
import { type Field, parseValues } from "../state/form";
import { fieldControl } from "../ui/fields";
import { type ProcessPlan, executionRequest, planProcess } from "../state/process";
import { field, h, panel } from "../ui/dom";
import type { JobsPanel } from "./jobs";

function control(f: Field): HTMLElement {
  const name = f.group ? `${f.group}.${f.name}` : f.name;
  return fieldControl(f, { name, required: f.required && f.kind !== "boolean", "aria-describedby": f.description ? `hint-${name}` : undefined });
}

export class WorkflowPanel {
  private select = h("select", { "data-testid": "workflow-select", id: "workflow-select", disabled: true }, h("option", { value: "" }, "loading workflows…"));
  private description = h("p", { class: "muted" });
  private form = h("form", { class: "params", "aria-label": "Workflow parameters" });
  private cost = h("p", { class: "cost", "aria-live": "polite" });
  private errors = h("p", { class: "error", role: "alert" });
  private launch = h("button", { type: "button", class: "primary", "data-testid": "launch-button", disabled: true }, "Launch on selection");
  private plan: ProcessPlan | null = null;
  private costTimer: number | undefined;

  constructor(private app: App, mount: HTMLElement, private jobsPanel: JobsPanel) {
    const { root, body } = panel("workflow-panel", "Workflows");
    body.append(field("Workflow", this.select), this.description, this.form, this.cost, this.errors, this.launch);
    mount.append(root);
    this.select.addEventListener("change", () => void this.choose(this.select.value));
    this.form.addEventListener("input", () => this.scheduleCost());
    this.form.addEventListener("submit", (e) => e.preventDefault());
    this.launch.addEventListener("click", () => void this.run());
    app.selection.subscribe(() => {
      this.updateLaunch();
      this.scheduleCost();
    });
    void this.load();
    // Workflows need a key: signing in (or out) changes what this panel can offer.
    app.credentials.subscribe(() => void this.load());
  }

  private async load(): Promise<void> {
    try {
      const processes = await this.app.jobs.processes();
      this.select.replaceChildren(
        h("option", { value: "" }, processes.length ? "Choose a workflow…" : "no workflows on this server"),
        ...processes.map((p) => h("option", { value: p.id }, p.title ?? p.id)),
      );
      this.select.disabled = processes.length === 0;
      this.description.textContent = "";
    } catch (e) {
      const missing = e instanceof HttpError && e.notAvailable;
      const unauthorized = e instanceof HttpError && e.status === 401;
      this.select.replaceChildren(h("option", { value: "" }, "not available"));
      this.description.textContent = missing
        ? "Workflows are not available: this server runs no processes service."
        : unauthorized
          ? "Sign in with an API key to run workflows."
          : `Workflows could not be loaded: ${(e as Error).message}`;
    }
  }

  private async choose(id: string): Promise<void> {
    this.plan = null;
    this.form.replaceChildren();
    this.cost.textContent = "";
    this.errors.textContent = "";
    this.updateLaunch();
    if (!id) return;
    try {
      const p = await this.app.jobs.process(id);
      this.plan = planProcess(p);
      this.description.textContent = p.description ?? "";
      this.form.replaceChildren(
        ...this.plan.fields.map((f) => {
          const name = f.group ? `${f.group}.${f.name}` : f.name;
          const label = f.label + (f.required ? " *" : "");
          const row = f.kind === "boolean"
            ? h("label", { class: "field check" }, control(f), h("span", { class: "label" }, label))
            : field(label, control(f));
          return withHint(row, name, f.description);
        }),
      );
      if (!this.plan.fields.length) this.form.append(h("p", { class: "muted" }, "This workflow has no parameters."));
      this.updateLaunch();
      this.scheduleCost();
    } catch (e) {
      this.description.textContent = `This workflow could not be read: ${(e as Error).message}`;
    }
  }

  private values(): ReturnType<typeof parseValues> {
    const raw: Record<string, string | boolean> = {};
    for (const el of this.form.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>("[name]")) {
      raw[el.name] = el instanceof HTMLInputElement && el.type === "checkbox" ? el.checked : el.value;
    }
    return parseValues(this.plan?.fields ?? [], raw);
  }

  private updateLaunch(): void {
    const n = this.app.selection.size;
    this.launch.disabled = !this.plan || n === 0;
    this.launch.textContent = n ? `Launch on ${n} selected item${n === 1 ? "" : "s"}` : "Launch on selection (select items first)";
  }

  private scheduleCost(): void {
    window.clearTimeout(this.costTimer);
    this.costTimer = window.setTimeout(() => void this.estimate(), 400);
  }

  private async estimate(): Promise<void> {
    const id = this.select.value;
    if (!this.plan || !id) return;
    const { values, errors } = this.values();
    if (Object.keys(errors).length || this.app.selection.size === 0) {
      this.cost.textContent = "Cost estimate: select items and fill the parameters.";
      return;
    }
    try {
      const text = await this.app.jobs.estimate(id, executionRequest(this.plan, this.app.selection.list(), values));
      this.cost.textContent = text ? `Cost estimate: ${text}` : "Cost estimate: not available on this server.";
    } catch (e) {
      this.cost.textContent = `Cost estimate failed: ${(e as Error).message}`;
    }
  }

  private async run(): Promise<void> {
    const id = this.select.value;
    if (!this.plan || !id) return;
    const { values, errors } = this.values();
    const problems = Object.values(errors);
    this.errors.textContent = problems.join("; ");
    if (problems.length) return;
    this.launch.disabled = true;
    try {
      const body = executionRequest(this.plan, this.app.selection.list(), values);
      const job = await this.app.jobs.execute(id, body);
      const title = this.select.selectedOptions[0]?.textContent ?? id;
      this.jobsPanel.track(job, id, title);
      this.app.status(`${title}: job ${job.id} started.`);
      document.getElementById("jobs-panel")?.setAttribute("open", "");
    } catch (e) {
      this.errors.textContent = `Launch failed: ${(e as Error).message}`;
    } finally {
      this.updateLaunch();
    }
  }
}

function withHint(label: HTMLLabelElement, name: string, hint?: string): HTMLLabelElement {
  if (hint) label.append(h("small", { id: `hint-${name}` }, hint));
  return label;
}
