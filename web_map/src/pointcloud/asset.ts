/** Which asset of an item is a COPC point cloud the 3D view can stream (pure). */

import type { StacItem } from "../api/stac";

export const COPC_MEDIA_TYPE = "application/vnd.laszip+copc";

/** [key, href] of the item's COPC asset (by media type, else by the .copc.laz name), or null. */
export function copcAsset(item: Pick<StacItem, "assets">): [string, string] | null {
  const entries = Object.entries(item.assets ?? {});
  const byType = entries.find(([, a]) => (a.type ?? "").toLowerCase().includes("copc"));
  const byName = entries.find(([, a]) => /\.copc\.laz(?:$|[?#])/i.test(a.href ?? ""));
  const found = byType ?? byName;
  return found && found[1].href ? [found[0], found[1].href] : null;
}
