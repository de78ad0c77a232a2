import { kernelArgList, kernelParamsOf, safeUrl, unsafe, type KernelParams } from '../render/ipxe-safe';

/**
 * The renderers' allow-lists applied when a record is saved, so a profile that could not boot is
 * refused then (a 400 naming the field, for the admin) instead of at boot (a 400 that blames the
 * machine). The same functions the iPXE and Pi renderers use decide.
 */
const PLACEHOLDER_BASE = 'http://netboot.invalid';

function checkLocation(value: unknown, field: string): void {
  if (value === undefined || value === null || value === '') return;
  if (typeof value !== 'string') unsafe(field, `expected a string, got ${typeof value}`);
  const v = value as string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) {
    safeUrl(v, field);
    return;
  }
  if (v.split('/').includes('..')) unsafe(field, 'path contains ".."');
  safeUrl(`${PLACEHOLDER_BASE}${v.startsWith('/') ? '' : '/boot/assets/'}${v}`, field);
}

/** Kernel parameters as the renderers will turn them into arguments; `pi.*` settings are the Pi renderer's. */
export function checkKernelParams(params: unknown, field: string): void {
  if (params === undefined || params === null) return;
  const asParams = kernelParamsOf(params as KernelParams | string[] | string, field);
  const kernelOnly: KernelParams = {};
  for (const [k, v] of Object.entries(asParams)) if (!k.startsWith('pi.')) kernelOnly[k] = v;
  kernelArgList(kernelOnly, field);
}

/** A profile (create or patch): kernel, initrds, chain URL, command line, parameters. */
export function checkProfile(body: Record<string, unknown>): void {
  checkLocation(body.kernel, 'kernel');
  if (Array.isArray(body.initrd)) body.initrd.forEach((v, i) => checkLocation(v, `initrd[${i}]`));
  checkLocation(body.chainUrl, 'chainUrl');
  checkKernelParams(body.cmdline, 'cmdline');
  checkKernelParams(body.params, 'params');
}

export function checkGroup(body: Record<string, unknown>): void {
  checkKernelParams(body.params, 'params');
}

export function checkDevice(body: Record<string, unknown>): void {
  checkKernelParams(body.paramsOverride, 'paramsOverride');
}
