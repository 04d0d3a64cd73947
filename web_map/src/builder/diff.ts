/** A line diff of two workflow versions' ASL (pretty-printed JSON), for the versions list. */

export interface DiffLine {
  op: " " | "+" | "-";
  text: string;
}

/** Lines removed from `a` (-), added in `b` (+) and kept ( ), by longest common subsequence.
 * Versions are a few hundred lines: the O(n·m) table is small. */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: " ", text: x[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: "-", text: x[i++] });
    else out.push({ op: "+", text: y[j++] });
  }
  while (i < n) out.push({ op: "-", text: x[i++] });
  while (j < m) out.push({ op: "+", text: y[j++] });
  return out;
}

/** Only the changes, with `context` unchanged lines round each (a gap marked by "…"). */
export function changesOnly(lines: DiffLine[], context = 2): DiffLine[] {
  const keep = new Set<number>();
  lines.forEach((l, i) => {
    if (l.op === " ") return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep.add(k);
  });
  const out: DiffLine[] = [];
  let last = -1;
  for (const i of [...keep].sort((p, q) => p - q)) {
    if (last >= 0 && i > last + 1) out.push({ op: " ", text: "…" });
    out.push(lines[i]);
    last = i;
  }
  return out;
}
