/**
 * Point colours: by elevation (a ramp over a robust height range), by ASPRS classification,
 * by the points' own RGB, or by intensity (grey, stretched). Pure: arrays in, bytes out.
 */

export type ColorMode = "elevation" | "classification" | "rgb" | "intensity";
export const COLOR_MODES: ColorMode[] = ["elevation", "classification", "rgb", "intensity"];
export const COLOR_LABELS: Record<ColorMode, string> = {
  elevation: "Elevation",
  classification: "Classification",
  rgb: "RGB",
  intensity: "Intensity",
};

export type Rgb = [number, number, number];

/** Elevation ramp (viridis-like: dark blue low, yellow high), stops evenly spaced. */
const RAMP: Rgb[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** The ramp's colour at ``t`` (clamped to 0..1). */
export function rampColor(t: number): Rgb {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const pos = x * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = RAMP[i];
  const b = RAMP[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as Rgb;
}

/** ASPRS LAS 1.4 standard classes. */
export const CLASS_COLORS: Record<number, Rgb> = {
  0: [160, 160, 160], // created, never classified
  1: [190, 190, 190], // unclassified
  2: [166, 110, 55], // ground
  3: [170, 230, 120], // low vegetation
  4: [80, 180, 60], // medium vegetation
  5: [20, 110, 30], // high vegetation
  6: [220, 70, 60], // building
  7: [255, 0, 255], // low point (noise)
  9: [40, 110, 240], // water
  10: [120, 80, 40], // rail
  11: [90, 90, 90], // road surface
  13: [255, 200, 0], // wire guard
  14: [255, 170, 0], // wire conductor
  15: [255, 120, 0], // transmission tower
  17: [240, 200, 60], // bridge deck
  18: [255, 0, 255], // high noise
};
export const OTHER_CLASS: Rgb = [120, 120, 200];

export function classColor(code: number): Rgb {
  return CLASS_COLORS[code] ?? OTHER_CLASS;
}

/** LAS point formats that carry RGB. */
export function formatHasRgb(pointDataRecordFormat: number): boolean {
  return [2, 3, 5, 7, 8, 10].includes(pointDataRecordFormat);
}

/**
 * [low, high] between the ``lowPct`` and ``highPct`` percentiles of ``values`` (outliers, such
 * as noise far above the ground, do not squash the ramp); [0, 1] for no values.
 */
export function robustRange(values: ArrayLike<number>, lowPct = 2, highPct = 98): [number, number] {
  const finite = Array.from(values).filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  finite.sort((a, b) => a - b);
  const at = (p: number) => finite[Math.min(finite.length - 1, Math.max(0, Math.round((p / 100) * (finite.length - 1))))];
  const lo = at(lowPct);
  const hi = at(highPct);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The divisor that brings stored RGB to 0..255: LAS says 16 bits, many files hold 8. */
export function rgbDivisor(maxChannel: number): number {
  return maxChannel > 255 ? 257 : 1;
}

export interface PointAttributes {
  count: number;
  z: Float32Array | Float64Array;
  intensity?: Uint16Array;
  classification?: Uint8Array;
  /** Interleaved r, g, b as stored (8 or 16 bits). */
  rgb?: Uint16Array;
}

export interface ColorContext {
  zRange: [number, number];
  intensityRange: [number, number];
  rgbDivisor: number;
}

/** One r, g, b byte triple per point. A mode the points cannot show (no RGB) is drawn grey. */
export function colorize(points: PointAttributes, mode: ColorMode, ctx: ColorContext): Uint8Array {
  const out = new Uint8Array(points.count * 3);
  const put = (i: number, c: Rgb) => {
    out[i * 3] = c[0];
    out[i * 3 + 1] = c[1];
    out[i * 3 + 2] = c[2];
  };
  for (let i = 0; i < points.count; i++) {
    if (mode === "elevation") {
      const [lo, hi] = ctx.zRange;
      put(i, rampColor((points.z[i] - lo) / (hi - lo)));
    } else if (mode === "classification") {
      put(i, points.classification ? classColor(points.classification[i]) : OTHER_CLASS);
    } else if (mode === "rgb") {
      if (!points.rgb) put(i, [128, 128, 128]);
      else {
        const d = ctx.rgbDivisor;
        put(i, [0, 1, 2].map((c) => Math.min(255, Math.round(points.rgb![i * 3 + c] / d))) as Rgb);
      }
    } else {
      const [lo, hi] = ctx.intensityRange;
      const v = points.intensity ? points.intensity[i] : lo;
      const g = Math.round(40 + 215 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
      put(i, [g, g, g]);
    }
  }
  return out;
}
