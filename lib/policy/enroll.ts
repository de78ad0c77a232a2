import { Type, type Static } from '@sinclair/typebox';
import { NetbootError } from '../core/errors';
import { deviceMac } from '../core/mac';
import { assertValid, type Device, type InventoryStore } from '../store';
import { makeRoomForUnconfirmed } from './growth';

/**
 * `POST /api/v1/enroll`: the hardware inventory the registration image posts
 * (boot-assets/registration/register.sh). Empty strings mean "unknown" and are left out.
 *
 * The request is anonymous, so it is held to the trust model of docs/security.md: it may create an
 * `enrolled` device for a MAC never seen, and may add *reported* facts to the device of its own MAC;
 * it never changes a device's identity (uuid, serial, service tag, hardware), never finds a device
 * by anything but the MAC it names, and an identifier that belongs to another device is a conflict
 * whose answer names nothing.
 */
export const ENROLL_MAX_BYTES = 64 * 1024;
/**
 * The `hardware` document, as JSON, at most this many bytes (it is stored on the device): what a
 * large server's lspci, lsblk and `ip -j link` come to; register.sh leaves lists out to fit.
 */
export const HARDWARE_MAX_BYTES = 60 * 1024;

const Str = (max: number) => Type.String({ maxLength: max });
export const EnrollBody = Type.Object({
  mac_address: Type.String({ minLength: 1, maxLength: 32 }),
  service_tag: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]*$' })),
  hostname: Type.Optional(Type.String({ maxLength: 63, pattern: '^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)?$' })),
  hardware: Type.Optional(Type.Object({
    manufacturer: Type.Optional(Str(256)),
    model: Type.Optional(Str(256)),
    serial: Type.Optional(Str(256)),
    uuid: Type.Optional(Type.String({ maxLength: 36, pattern: '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$' })),
    pi_serial: Type.Optional(Type.String({ maxLength: 16, pattern: '^([0-9a-fA-F]{8}|[0-9a-fA-F]{16})?$' })),
  }, { additionalProperties: true, maxProperties: 64 })),
}, { additionalProperties: false });
export type EnrollBody = Static<typeof EnrollBody>;

/** The identifiers another device already holds; the flow sees them, the client never does. */
export interface EnrollConflict {
  mac: string;
  fields: Array<'uuid' | 'serial' | 'serviceTag'>;
  /** The device that holds them. */
  holder: Device;
}

export type EnrollResult =
  | { outcome: 'created'; device: Device; created: true; evicted: string[] }
  | { outcome: 'reported'; device: Device; created: false; changed: string[] }
  | { outcome: 'conflict'; conflict: EnrollConflict; created: false };

/** Parses the body (object, JSON text or Buffer), checks size and shape; errors name the field. */
export function parseEnrollBody(body: unknown, maxBytes = ENROLL_MAX_BYTES): EnrollBody {
  let value = body;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  const size = typeof value === 'string' ? Buffer.byteLength(value) : Buffer.byteLength(JSON.stringify(value ?? null));
  if (size > maxBytes) throw new NetbootError('validation', `enroll: body is ${size} bytes (limit ${maxBytes})`, { field: '(body)', status: 413 });
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new NetbootError('validation', 'enroll: body is not JSON (send Content-Type: application/json)', { field: '(body)' });
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new NetbootError('validation', 'enroll: body must be a JSON object', { field: '(body)' });
  assertValid(EnrollBody, value, 'enroll');
  const hw = (value as EnrollBody).hardware;
  const hwSize = hw ? Buffer.byteLength(JSON.stringify(hw)) : 0;
  if (hwSize > HARDWARE_MAX_BYTES) throw new NetbootError('validation', `enroll: field "hardware" is ${hwSize} bytes of JSON (limit ${HARDWARE_MAX_BYTES})`, { field: 'hardware', status: 413 });
  return value;
}

/** The conflict answer: the same words whichever device or field it was, so it reveals nothing. */
export const CONFLICT_ANSWER = { error: { code: 'conflict', message: 'enroll: an identifier in this request is already registered to another device; an administrator must resolve it' } };

/**
 * Creates the device (status `enrolled`) for a MAC never seen, or records what the machine reports
 * on the device of its own MAC (`device.reported`), leaving every confirmed field as it is.
 */
export async function enroll(store: Pick<InventoryStore, 'devices'> & Partial<Pick<InventoryStore, 'getSettings' | 'appendEvent'>>, body: EnrollBody): Promise<EnrollResult> {
  let mac: string;
  try {
    mac = deviceMac(body.mac_address);
  } catch (err) {
    throw new NetbootError('validation', `enroll: field "mac_address": ${(err as Error).message}`, { field: 'mac_address' });
  }
  const hw = body.hardware ?? {};
  const serial = hw.pi_serial ? hw.pi_serial.slice(-8).toLowerCase() : undefined;
  const uuid = hw.uuid ? hw.uuid.toLowerCase() : undefined;
  const serviceTag = body.service_tag || undefined;
  const hostname = body.hostname || undefined;

  const existing = await store.devices.find({ mac });
  if (existing) {
    const reported = { hardware: hw as Record<string, unknown>, ...(uuid ? { uuid } : {}), ...(serial ? { serial } : {}), ...(serviceTag ? { serviceTag } : {}), ...(hostname ? { hostname } : {}) };
    const before = existing.reported ?? {};
    const changed = (['uuid', 'serial', 'serviceTag', 'hostname'] as const).filter((k) => reported[k] !== undefined && reported[k] !== before[k]);
    const device = await store.devices.touch(existing.mac, { reported });
    return { outcome: 'reported', device, created: false, changed };
  }
  const fields: EnrollConflict['fields'] = [];
  let holder: Device | undefined;
  for (const [field, keys] of [['uuid', { uuid }], ['serial', { serial }], ['serviceTag', { serviceTag }]] as const) {
    if (!Object.values(keys)[0]) continue;
    const other = await store.devices.find(keys);
    if (other) {
      fields.push(field);
      holder ??= other;
    }
  }
  if (holder) return { outcome: 'conflict', conflict: { mac, fields, holder }, created: false };
  const evicted = await makeRoomForUnconfirmed(store);
  const device = await store.devices.create({
    mac, status: 'enrolled', hardware: hw as Record<string, unknown>,
    ...(uuid ? { uuid } : {}), ...(serial ? { serial } : {}), ...(serviceTag ? { serviceTag } : {}), ...(hostname ? { hostname } : {}),
  });
  return { outcome: 'created', device, created: true, evicted };
}

/** The JSON answer for the enrolling machine: its own MAC and nothing about any other device. */
export function enrollAnswer(result: EnrollResult): { statusCode: number; payload: Record<string, unknown> } {
  if (result.outcome === 'conflict') return { statusCode: 409, payload: CONFLICT_ANSWER };
  if (result.outcome === 'created') return { statusCode: 201, payload: { status: result.device.status, mac: result.device.mac, created: true } };
  return { statusCode: 200, payload: { mac: result.device.mac, created: false, reported: true } };
}

/**
 * Records the outcome in the inventory's event log (and so on the event bus): `enroll` for the
 * machine that enrolled or reported, `enroll.conflict` on the machine whose identifiers another one
 * carried. `ip` is the caller's address.
 */
export async function recordEnrollment(store: Pick<InventoryStore, 'appendEvent'>, result: EnrollResult, ip?: string): Promise<void> {
  const at = ip ? { ip: ip.replace(/^::ffff:/, '') } : {};
  if (result.outcome === 'conflict') {
    const { conflict } = result;
    await store.appendEvent({
      type: 'enroll.conflict', mac: conflict.holder.mac, ...at,
      message: `refused an enrolment from ${conflict.mac} carrying this device's ${conflict.fields.join(', ')}`,
      data: { from: conflict.mac, fields: conflict.fields },
    });
    return;
  }
  const message = result.outcome === 'created' ? 'enrolled' : result.changed.length ? `reported ${result.changed.join(', ')} differing from before` : 'inventory reported';
  await store.appendEvent({ type: 'enroll', mac: result.device.mac, ...at, message });
}
