import { Type, type Static } from '@sinclair/typebox';
import { NetbootError } from '../errors';
import { normalizeMac } from '../mac';
import { assertValid, type Device, type InventoryStore } from '../store';

/**
 * `POST /api/v1/enroll`: the hardware inventory the registration image posts
 * (boot-assets/registration/register.sh). Empty strings mean "unknown" and are left out.
 */
export const ENROLL_MAX_BYTES = 256 * 1024;

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
  }, { additionalProperties: true })),
}, { additionalProperties: false });
export type EnrollBody = Static<typeof EnrollBody>;

export interface EnrollResult {
  device: Device;
  created: boolean;
}

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
  return value;
}

/** Creates the device (status `enrolled`) or updates its inventory; an existing device keeps its status. */
export async function enroll(store: Pick<InventoryStore, 'devices'>, body: EnrollBody): Promise<EnrollResult> {
  let mac: string;
  try {
    mac = normalizeMac(body.mac_address);
  } catch (err) {
    throw new NetbootError('validation', `enroll: field "mac_address": ${(err as Error).message}`, { field: 'mac_address' });
  }
  const hw = body.hardware ?? {};
  const serial = hw.pi_serial ? hw.pi_serial.slice(-8).toLowerCase() : undefined;
  const fields = {
    hardware: hw as Record<string, unknown>,
    ...(body.service_tag ? { serviceTag: body.service_tag } : {}),
    ...(hw.uuid ? { uuid: hw.uuid.toLowerCase() } : {}),
    ...(serial ? { serial } : {}),
  };
  const existing = await store.devices.find({ mac, uuid: fields.uuid, serviceTag: fields.serviceTag, serial });
  if (existing) {
    const device = await store.devices.update(existing.mac, { ...fields, ...(body.hostname && !existing.hostname ? { hostname: body.hostname } : {}) });
    return { device, created: false };
  }
  const device = await store.devices.create({ mac, status: 'enrolled', ...fields, ...(body.hostname ? { hostname: body.hostname } : {}) });
  return { device, created: true };
}
