import { Type, type Static } from '@sinclair/typebox';
import { NetbootError } from '../core/errors';
import { assertValid } from '../store/schema';
import type { IscsiService } from './service';

/**
 * The iSCSI node's verbs, the same for a flow (`msg.payload`, or `msg.topic` as the action) and for
 * the admin API (`POST /netboot/api/iscsi/actions`): validated here, carried out by the service.
 */
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Mac = Type.String({ minLength: 11, maxLength: 17 });
const DiskName = Type.String({ minLength: 1, maxLength: 520 });
const SessionId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

export const IscsiAction = Type.Union([
  Type.Object({
    action: Type.Literal('create'), id: Type.Optional(Id), name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    sizeBytes: Type.Optional(Type.Integer({ minimum: 1 })), from: Type.Optional(Id), path: Type.Optional(DiskName),
    lun: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })), description: Type.Optional(Type.String({ maxLength: 2000 })), mac: Type.Optional(Mac),
  }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('copy'), from: Id, id: Type.Optional(Id), name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), mac: Type.Optional(Mac) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('rename'), id: Id, path: DiskName }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('delete'), id: Id, deleteDisk: Type.Optional(Type.Boolean()), force: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('link'), id: Id, mac: Mac }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('unlink'), mac: Mac }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('list') }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('sync') }, { additionalProperties: false }),
  Type.Object({
    action: Type.Literal('start-session'), mac: Mac, image: Type.Optional(Id),
    mode: Type.Optional(Type.Union([Type.Literal('persistent'), Type.Literal('clean')])), ip: Type.Optional(Type.String({ maxLength: 15 })),
  }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('stop-session'), id: Type.Optional(SessionId), mac: Type.Optional(Mac), afterLogout: Type.Optional(Type.Boolean()), commit: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('commit-session'), id: SessionId }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('sessions'), active: Type.Optional(Type.Boolean()), mac: Type.Optional(Mac) }, { additionalProperties: false }),
]);
export type IscsiAction = Static<typeof IscsiAction>;
export const ISCSI_ACTIONS = ['create', 'copy', 'rename', 'delete', 'link', 'unlink', 'list', 'sync', 'start-session', 'stop-session', 'commit-session', 'sessions'] as const;

export async function runIscsiAction(service: IscsiService, input: unknown, by = 'flow'): Promise<unknown> {
  const action = (input as { action?: unknown } | null)?.action;
  if (typeof action !== 'string' || !(ISCSI_ACTIONS as readonly string[]).includes(action)) {
    throw new NetbootError('validation', `field "action": "${String(action)}" is not one of ${ISCSI_ACTIONS.join(', ')}`, { field: 'action' });
  }
  // check against the one variant the action names, so the error names the field that is wrong
  const variant = IscsiAction.anyOf.find((v) => v.properties.action.const === action)!;
  assertValid(variant, input, `iscsi ${action}`);
  const a = input as IscsiAction;
  switch (a.action) {
    case 'create': { const { action: _, ...rest } = a; return service.create(rest); }
    case 'copy': { const { action: _, ...rest } = a; return service.create(rest); }
    case 'rename': return service.rename(a);
    case 'delete': return service.remove(a);
    case 'link': return service.link(a);
    case 'unlink': return service.unlink(a);
    case 'list': return { status: service.status, targets: await service.list() };
    case 'sync': return service.sync();
    case 'start-session': { const { action: _, ...rest } = a; return service.sessions.start({ ...rest, by }); }
    case 'stop-session': {
      const id = a.id ?? (a.mac !== undefined ? (await service.sessions.activeFor(a.mac))?.id : undefined);
      if (id === undefined) throw new NetbootError(a.mac !== undefined ? 'not_found' : 'validation', a.mac !== undefined ? `machine ${a.mac} has no live session` : 'field "id": name the session (or its machine\'s "mac")', { field: a.mac !== undefined ? 'mac' : 'id' });
      return service.sessions.stop(id, { afterLogout: a.afterLogout, commit: a.commit, reason: `stopped by ${by}` });
    }
    case 'commit-session': return service.sessions.commit(a.id);
    case 'sessions': return service.sessions.list({ active: a.active, mac: a.mac });
  }
}
