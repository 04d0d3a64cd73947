/**
 * Planar fixes for spherical GeoJSON (world-atlas): rings and lines that cross the
 * antimeridian are unwrapped (longitudes continue past ±180, which MapLibre draws on the next
 * world copy), and a ring that goes round a pole (Antarctica) is closed along that pole.
 */

import type { Geometry, Position } from "geojson";

/** Longitudes made continuous: a step of more than 180° is taken the short way round. */
export function unwrap(coords: Position[]): Position[] {
  let offset = 0;
  return coords.map((p, i) => {
    if (i > 0) {
      const step = p[0] - coords[i - 1][0];
      if (step > 180) offset -= 360;
      else if (step < -180) offset += 360;
    }
    return [p[0] + offset, p[1]];
  });
}

/** One ring, unwrapped; closed along the nearer pole when it goes round the world. */
export function fixRing(ring: Position[]): Position[] {
  const out = unwrap(ring);
  const first = out[0];
  const last = out[out.length - 1];
  if (Math.abs(last[0] - first[0]) < 180) return out;
  const meanLat = out.reduce((s, p) => s + p[1], 0) / out.length;
  const pole = meanLat < 0 ? -90 : 90;
  return [...out, [last[0], pole], [first[0], pole], first];
}

export function fixGeometry(g: Geometry): Geometry {
  switch (g.type) {
    case "Polygon":
      return { ...g, coordinates: g.coordinates.map(fixRing) };
    case "MultiPolygon":
      return { ...g, coordinates: g.coordinates.map((poly) => poly.map(fixRing)) };
    case "LineString":
      return { ...g, coordinates: unwrap(g.coordinates) };
    case "MultiLineString":
      return { ...g, coordinates: g.coordinates.map(unwrap) };
    default:
      return g;
  }
}
