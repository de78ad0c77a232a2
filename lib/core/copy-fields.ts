/**
 * A shallow copy of an object's own enumerable fields, made by adding them one by one to a new
 * object. `{ ...src, extra }` does the same, but where the spread site sees many shapes (events of
 * every type), V8 copies through its runtime and gives each copy a hidden class of its own; the
 * event log and the replay ring kept thousands of those in a DHCP storm, and the young-generation
 * GC paid for them. Copies made here share hidden classes with every other object built in the
 * same field order.
 */
export function copyFields<T extends object>(src: T): T {
  const out: Record<string, unknown> = {};
  for (const key in src) {
    if (Object.prototype.hasOwnProperty.call(src, key)) out[key] = (src as Record<string, unknown>)[key];
  }
  return out as T;
}
