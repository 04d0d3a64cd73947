/**
 * The 3D view of a COPC point cloud (three.js): streams octree nodes through `/assets` with
 * Range requests, coarsest level first, deeper ones while the point budget allows; colours by
 * elevation, classification, RGB or intensity. Loaded on demand (dynamic import) so the map's
 * own bundle does not carry three.js.
 *
 * The root element reports its progress for people and tests alike: data-state
 * (loading | ready | error), data-points, data-nodes, data-depth, data-budget, data-truncated
 * (nodes left out for the budget), data-requests, data-partial-requests (206 answers), data-bytes,
 * and data-drawn-points / data-drawn-color: what the last frame drawn shows.
 */

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { h } from "../ui/dom";
import "./pointcloud.css";
import { COLOR_LABELS, COLOR_MODES, type ColorContext, type ColorMode, colorize, robustRange, rgbDivisor } from "./colors";
import { loadNodes } from "./lod";
import { CopcSource, type NodePoints } from "./source";

export const BUDGETS = [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000];
export const DEFAULT_BUDGET = 1_000_000;
/** The reader's last budget choice (kept across views and reloads). */
export const BUDGET_STORAGE = "stacworks.pointBudget";

function savedBudget(): number {
  const saved = Number(localStorage.getItem(BUDGET_STORAGE));
  return BUDGETS.includes(saved) ? saved : DEFAULT_BUDGET;
}
/** Nodes fetched at once. */
const CONCURRENCY = 4;

export interface PointCloudOptions {
  url: string;
  title: string;
  budget?: number;
  color?: ColorMode;
  onClose?: () => void;
}

export interface PointCloudView {
  root: HTMLElement;
  close(): void;
}

let current: PointCloudView | null = null;

/** Open the view over ``mount`` (one at a time: a second call replaces the first). */
export function openPointCloud(mount: HTMLElement, opts: PointCloudOptions): PointCloudView {
  current?.close();
  current = new Viewer(mount, opts);
  return current;
}

class Viewer implements PointCloudView {
  readonly root: HTMLElement;
  private readonly canvasWrap: HTMLDivElement;
  private readonly statusEl: HTMLSpanElement;
  private readonly colorSelect: HTMLSelectElement;
  private readonly renderer: THREE.WebGLRenderer;
  private readonly scene = new THREE.Scene();
  private readonly camera = new THREE.PerspectiveCamera(55, 1, 0.1, 1e7);
  private readonly controls: OrbitControls;
  private readonly material = new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true });
  private readonly source: CopcSource;
  private readonly loaded = new Map<string, { points: NodePoints; object: THREE.Points }>();
  private readonly resize: ResizeObserver;
  private mode: ColorMode;
  private budget: number;
  private ctx: ColorContext | null = null;
  private closed = false;
  private frame = 0;
  private generation = 0;

  constructor(
    mount: HTMLElement,
    private opts: PointCloudOptions,
  ) {
    this.mode = opts.color ?? "elevation";
    this.budget = opts.budget ?? savedBudget();
    this.source = new CopcSource(opts.url);
    this.colorSelect = h(
      "select",
      { "data-testid": "pointcloud-color", "aria-label": "Colour points by", onchange: () => this.recolor(this.colorSelect.value as ColorMode) },
      ...COLOR_MODES.map((m) => h("option", { value: m, selected: m === this.mode }, COLOR_LABELS[m])),
    );
    const budgetSelect = h(
      "select",
      { "data-testid": "pointcloud-budget", "aria-label": "Point budget" },
      ...BUDGETS.map((b) => h("option", { value: b, selected: b === this.budget }, `${(b / 1e6).toLocaleString()} M points`)),
    );
    budgetSelect.addEventListener("change", () => {
      this.budget = Number(budgetSelect.value);
      localStorage.setItem(BUDGET_STORAGE, String(this.budget));
      void this.stream();
    });
    this.statusEl = h("span", { class: "pc-status", "data-testid": "pointcloud-status", role: "status", "aria-live": "polite" }, "Reading the header…");
    this.canvasWrap = h("div", { class: "pc-canvas", "data-testid": "pointcloud-canvas" });
    this.root = h(
      "section",
      { class: "pointcloud", "data-testid": "pointcloud-view", "data-state": "loading", "data-points": 0, "data-nodes": 0, role: "dialog", tabindex: -1, "aria-label": `Point cloud ${opts.title}` },
      h(
        "div",
        { class: "pc-bar" },
        h("strong", { class: "pc-title", title: opts.title }, opts.title),
        h("label", {}, "Colour ", this.colorSelect),
        h("label", {}, "Budget ", budgetSelect),
        this.statusEl,
        h("button", { type: "button", "data-testid": "pointcloud-close", onclick: () => this.close() }, "Close 3D"),
      ),
      this.canvasWrap,
    );
    this.root.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    // Throws without WebGL: before anything is put on the page (the caller says why).
    this.renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
    this.renderer.setClearColor(0x11161f);
    this.canvasWrap.append(this.renderer.domElement);
    this.camera.up.set(0, 0, 1); // z is height
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.addEventListener("change", () => this.requestRender());
    // Keyboard: arrows pan once the canvas has focus (Tab to it).
    const canvas = this.renderer.domElement;
    canvas.tabIndex = 0;
    canvas.setAttribute("aria-label", "Point cloud: drag to orbit, wheel to zoom, right-drag or arrows to pan");
    this.controls.listenToKeyEvents(canvas);
    mount.append(this.root);
    this.root.focus(); // Escape closes it; drag to orbit, wheel to zoom, right-drag to pan
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.canvasWrap);
    this.fit();
    void this.start();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation += 1;
    cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.controls.dispose();
    for (const { object } of this.loaded.values()) object.geometry.dispose();
    this.material.dispose();
    this.renderer.dispose();
    this.root.remove();
    if (current === this) current = null;
    this.opts.onClose?.();
  }

  private async start(): Promise<void> {
    try {
      await this.source.open();
      if (this.closed) return;
      this.frameCloud();
      if (!this.source.hasRgb) this.colorSelect.querySelector<HTMLOptionElement>('option[value="rgb"]')!.disabled = true;
      await this.stream();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Load what the budget allows (coarsest first) and drop nodes it no longer allows. */
  private async stream(): Promise<void> {
    const generation = ++this.generation;
    this.setState("loading");
    try {
      const plan = await this.source.plan(this.budget);
      if (generation !== this.generation) return;
      const wanted = new Set(plan.keys);
      for (const [key, { object }] of this.loaded) {
        if (!wanted.has(key)) {
          this.scene.remove(object);
          object.geometry.dispose();
          this.loaded.delete(key);
        }
      }
      const queue = plan.keys.filter((k) => !this.loaded.has(k) && this.source.pointCount(k) > 0);
      this.statusEl.textContent = `Loading ${plan.points.toLocaleString()} points (levels 0–${plan.depth})…`;
      await loadNodes(queue, (key) => this.source.node(key), (points) => this.add(points), CONCURRENCY,
        () => generation !== this.generation);
      if (generation !== this.generation) return;
      this.root.dataset.depth = String(plan.depth);
      this.root.dataset.budget = String(this.budget);
      this.root.dataset.truncated = String(plan.truncated);
      const total = this.source.header.pointCount;
      this.statusEl.textContent =
        `${this.pointsLoaded().toLocaleString()} of ${total.toLocaleString()} points` + (plan.truncated ? " (budget reached)" : "");
      this.setState("ready");
    } catch (e) {
      if (generation === this.generation) this.fail(e);
    }
  }

  private add(points: NodePoints): void {
    this.ctx ??= this.colorContext(points); // the coarsest node comes first (loadNodes): an even sample
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.BufferAttribute(points.positions, 3));
    geometry.setAttribute("color", new THREE.BufferAttribute(colorize(points, this.mode, this.ctx), 3, true));
    const object = new THREE.Points(geometry, this.material);
    object.frustumCulled = false;
    this.scene.add(object);
    this.loaded.set(points.key, { points, object });
    this.updateCounts();
    this.requestRender();
  }

  private colorContext(p: NodePoints): ColorContext {
    let maxChannel = 0;
    if (p.rgb) for (let i = 0; i < p.rgb.length; i++) maxChannel = Math.max(maxChannel, p.rgb[i]);
    return { zRange: robustRange(p.z), intensityRange: robustRange(p.intensity ?? []), rgbDivisor: rgbDivisor(maxChannel) };
  }

  private recolor(mode: ColorMode): void {
    this.mode = mode;
    this.root.dataset.color = mode;
    if (!this.ctx) return;
    for (const { points, object } of this.loaded.values()) {
      object.geometry.setAttribute("color", new THREE.BufferAttribute(colorize(points, mode, this.ctx), 3, true));
    }
    this.requestRender();
  }

  /** Camera over the cloud's south-west, looking at its centre. */
  private frameCloud(): void {
    const hd = this.source.header;
    const [cx, cy, cz] = this.source.centre;
    const min = new THREE.Vector3(hd.min[0] - cx, hd.min[1] - cy, hd.min[2] - cz);
    const max = new THREE.Vector3(hd.max[0] - cx, hd.max[1] - cy, hd.max[2] - cz);
    const centre = min.clone().add(max).multiplyScalar(0.5);
    const radius = Math.max(1, max.clone().sub(min).length() / 2);
    this.controls.target.copy(centre);
    this.camera.position.set(centre.x - 0.7 * radius, centre.y - 1.2 * radius, centre.z + 0.9 * radius);
    this.camera.near = radius / 1000;
    this.camera.far = radius * 20;
    this.camera.updateProjectionMatrix();
    this.controls.update();
    this.root.dataset.color = this.mode;
  }

  private fit(): void {
    const w = Math.max(1, this.canvasWrap.clientWidth);
    const hgt = Math.max(1, this.canvasWrap.clientHeight);
    this.renderer.setSize(w, hgt);
    this.camera.aspect = w / hgt;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  private requestRender(): void {
    if (this.closed) return;
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => {
      this.renderer.render(this.scene, this.camera);
      // What the canvas shows now (a test waits for it before a screenshot).
      this.root.dataset.drawnPoints = String(this.pointsLoaded());
      this.root.dataset.drawnColor = this.mode;
    });
  }

  private pointsLoaded(): number {
    let n = 0;
    for (const { points } of this.loaded.values()) n += points.count;
    return n;
  }

  private updateCounts(): void {
    const d = this.root.dataset;
    d.points = String(this.pointsLoaded());
    d.nodes = String(this.loaded.size);
    d.requests = String(this.source.stats.requests);
    d.partialRequests = String(this.source.stats.partial);
    d.bytes = String(this.source.stats.bytes);
  }

  private setState(state: "loading" | "ready" | "error"): void {
    this.updateCounts();
    this.root.dataset.state = state;
  }

  private fail(e: unknown): void {
    this.statusEl.textContent = `The point cloud could not be read: ${(e as Error).message}`;
    this.setState("error");
  }
}
