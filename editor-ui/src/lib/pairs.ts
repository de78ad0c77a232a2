/** `key=value` pairs typed one per line (a value may hold commas): labels, group selectors. A line without `=` is a key with an empty value. */
export function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf('=');
    out[i < 0 ? line : line.slice(0, i).trim()] = i < 0 ? '' : line.slice(i + 1).trim();
  }
  return out;
}

export function pairsText(pairs: Record<string, string>): string {
  return Object.entries(pairs).map(([k, v]) => `${k}=${v}`).join('\n');
}
