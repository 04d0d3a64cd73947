// Read a COPC file with copc.js (an independent reader): every hierarchy page, every node,
// every point. Prints one JSON object: counts, XYZ bounds, points outside their node's cube.
const { Copc } = require("copc");

async function main(file) {
  const copc = await Copc.create(file);
  const nodes = {};
  const pages = [copc.info.rootHierarchyPage];
  while (pages.length) {
    const sub = await Copc.loadHierarchyPage(file, pages.pop());
    Object.assign(nodes, sub.nodes);
    pages.push(...Object.values(sub.pages));
  }
  const cube = copc.info.cube; // [minx, miny, minz, maxx, maxy, maxz]
  const scale = copc.header.scale;
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  let points = 0;
  let outside = 0;
  for (const [key, node] of Object.entries(nodes)) {
    if (!node || node.pointCount === 0) continue;
    const [d, ...xyz] = key.split("-").map(Number);
    const step = (cube[3] - cube[0]) / 2 ** d;
    const view = await Copc.loadPointDataView(file, copc, node);
    const get = ["X", "Y", "Z"].map((name) => view.getter(name));
    for (let i = 0; i < view.pointCount; i++) {
      for (let a = 0; a < 3; a++) {
        const v = get[a](i);
        if (v < min[a]) min[a] = v;
        if (v > max[a]) max[a] = v;
        const lo = cube[a] + step * xyz[a];
        if (v < lo - scale[a] || v > lo + step + scale[a]) outside++;
      }
    }
    points += view.pointCount;
  }
  console.log(
    JSON.stringify({
      pointCount: copc.header.pointCount,
      points,
      nodes: Object.keys(nodes).length,
      format: copc.header.pointDataRecordFormat,
      min,
      max,
      outside,
      hasWkt: Boolean(copc.wkt),
    }),
  );
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
