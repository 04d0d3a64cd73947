import { describe, expect, it } from "vitest";
import { itemTileParams } from "../src/api/tiles";

const COG = "image/tiff; application=geotiff; profile=cloud-optimized";

describe("which items the tiler can draw", () => {
  it("takes assets served by this platform's /assets as store objects", () => {
    const item = { assets: { red: { href: "http://127.0.0.1:8000/assets/s2/S2A_1/red", type: COG, roles: ["data"] } } };
    expect(itemTileParams(item, false)).toEqual({ params: { assets: "red" } });
    const shared = { assets: { red: { href: "https://eo.example.org/p/assets/s2/S2A_1/red?token=sws_x", type: COG } } };
    expect(itemTileParams(shared, true)).toEqual({ params: {} });
  });

  it("still reads stored locations, and refuses remote files", () => {
    expect(itemTileParams({ assets: { b: { href: "s3://bucket/s2/x/b.tif", type: COG } } }, false)).toEqual({ params: { assets: "b" } });
    const remote = itemTileParams({ assets: { b: { href: "https://sentinel-cogs.s3.amazonaws.com/x/B04.tif", type: COG } } }, false);
    expect("reason" in remote && remote.reason).toContain("remote server");
  });

  it("draws a stored point cloud with its collection's presets, and says why not without", () => {
    const cloud = { assets: { data: { href: "http://127.0.0.1:8000/assets/lidar/autzen/data", type: "application/vnd.laszip+copc" } } };
    expect(itemTileParams(cloud, true)).toEqual({ params: {} });
    const bare = itemTileParams(cloud, false);
    expect("reason" in bare && bare.reason).toContain("renders add");
    const remote = { assets: { data: { href: "https://lidar.example.org/autzen.copc.laz" } } };
    expect("reason" in itemTileParams(remote, true)).toBe(true);
  });
});
