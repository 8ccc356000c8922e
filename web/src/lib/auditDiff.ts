// What an audit entry changed, in a line a person reads: the top-level
// fields whose values differ between before and after ("status: active ->
// frozen"). The whole before/after stays available to expand.
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function show(v: Json | undefined): string {
  if (v === undefined) return '∅';
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? `[${v.length}]` : '{…}';
}

/** Changed top-level fields as "key: before → after", at most `max` of them. */
export function auditChanges(before: Json | undefined, after: Json | undefined, max = 4): string[] {
  const isObj = (v: Json | undefined): v is { [k: string]: Json } => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(before) && !isObj(after)) return before === after ? [] : [`${show(before)} → ${show(after)}`];
  const b = isObj(before) ? before : {};
  const a = isObj(after) ? after : {};
  const out: string[] = [];
  for (const k of Object.keys({ ...b, ...a })) {
    if (JSON.stringify(b[k]) === JSON.stringify(a[k])) continue;
    // Nested objects (a payment inside a refund's answer) say only that they changed.
    out.push(`${k}: ${show(b[k])} → ${show(a[k])}`);
  }
  return out.length > max ? [...out.slice(0, max), `and ${out.length - max} more`] : out;
}
