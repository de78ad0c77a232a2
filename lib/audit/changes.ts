import { summarizeChange, type AuditLog } from './audit-log';
import type { InventoryStore } from '../store';

/**
 * Management changes for the audit log: the record as it was before (for the routes that name
 * one) and the entry after, with a before/after summary that never holds a secret's value.
 */
export interface ChangeAuditContext {
  store?: InventoryStore;
  audit?: AuditLog;
}

const COLLECTIONS = ['devices', 'images', 'profiles', 'groups'] as const;

/** The record a write route is about to change, when its path names one. */
export async function recordBefore(ctx: ChangeAuditContext, routePath: string, params: Record<string, string>): Promise<unknown> {
  const store = ctx.store;
  if (!store) return undefined;
  const [, name, key] = routePath.split('/');
  // a copy: a store may hand out its live record, which the change then edits in place
  if (name === 'settings') return structuredClone(await store.getSettings());
  const col = (COLLECTIONS as readonly string[]).includes(name) ? store[name as (typeof COLLECTIONS)[number]] : undefined;
  const id = key?.startsWith(':') ? params[key.slice(1)] : undefined;
  if (!col || !id) return undefined;
  return (col.get as (id: string) => Promise<unknown>)(id).then((r) => structuredClone(r)).catch(() => undefined);
}

export function recordChange(ctx: ChangeAuditContext, e: { method: string; endpoint: string; status: number; user?: string; ip?: string; before: unknown; after: unknown; id?: string }): void {
  ctx.audit?.append({
    kind: 'change', method: e.method.toUpperCase(), endpoint: e.endpoint, outcome: e.status,
    ...(e.user ? { user: e.user } : {}), ...(e.ip ? { ip: e.ip.replace(/^::ffff:/, '') } : {}),
    // a failed change changed nothing: only its id
    summary: e.status < 300 ? summarizeChange(e.before, e.after, e.id) : { ...(e.id ? { id: e.id } : {}), fields: {} },
  });
}
