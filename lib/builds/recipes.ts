import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { NetbootError } from '../core/errors';

/**
 * A build recipe: the commands that make one machine's image, and where the image is afterwards.
 *
 * Each step is an argument array run without a shell (`execa`), in a fresh work folder, with the
 * environment below; a recipe that needs a shell says so (`shell: true`, then its steps are single
 * command strings and the author owns their quoting). Values from the inventory (MAC, hostname,
 * params) reach a step only as environment variables or as whole arguments, never as shell text:
 *
 *   NETBOOT_MAC, NETBOOT_MAC_DASHED, NETBOOT_HOSTNAME, NETBOOT_BUILD_ID, NETBOOT_RECIPE,
 *   NETBOOT_WORK_DIR, NETBOOT_OUTPUT_DIR, NETBOOT_DEVICE_JSON (the device record as a JSON file),
 *   NETBOOT_SERVER (the server's base URL), NETBOOT_PARAM_<NAME> (each param, name upper-cased).
 *
 * `{param}` in an argument is replaced by that param's value (the whole value, as one argument).
 */
export interface Recipe {
  name: string;
  description?: string;
  steps: string[][];
  env?: Record<string, string>;
  shell?: boolean;
  /** Paths relative to the output folder. */
  outputs: { kernel: string; initrd: string; rootfs?: string; disk?: string };
  /** Per build (default: the node's timeout). */
  timeoutMs?: number;
  /** Params a build must give (`flake`, `host` …). */
  requires?: string[];
}

/** `boot-assets/builds` of this package, from `lib/` in the source tree or `dist/lib/` when installed. */
function scriptsDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'boot-assets', 'builds');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', 'boot-assets', 'builds');
}
const SCRIPTS = scriptsDir();

/** The recipes that ship with netboot; each says what it needs in docs/builds.md. */
export const BUILTIN_RECIPES: Record<string, Recipe> = {
  initramfs: {
    name: 'initramfs',
    description: 'a busybox initramfs with the machine\'s own /init and marker, and a kernel (busybox-static, cpio, gzip)',
    steps: [['bash', path.join(SCRIPTS, 'initramfs.sh')]],
    outputs: { kernel: 'vmlinuz', initrd: 'initrd.img' },
  },
  debian: {
    name: 'debian',
    description: 'a minimal Debian root from the archive (mmdebstrap), packed as an initramfs, with a Debian kernel',
    steps: [['bash', path.join(SCRIPTS, 'debian.sh')]],
    outputs: { kernel: 'vmlinuz', initrd: 'initrd.img' },
    timeoutMs: 20 * 60_000,
  },
  nixos: {
    name: 'nixos',
    description: 'the netboot kernel and ramdisk of a NixOS flake host (nix build; remote builders with params.builders)',
    steps: [
      ['nix', 'build', '--no-link', '--out-link', '{outputDir}/kernel', '{flake}#nixosConfigurations.{host}.config.system.build.kernel', '--builders', '{builders}'],
      ['nix', 'build', '--no-link', '--out-link', '{outputDir}/ramdisk', '{flake}#nixosConfigurations.{host}.config.system.build.netbootRamdisk', '--builders', '{builders}'],
    ],
    outputs: { kernel: 'kernel/bzImage', initrd: 'ramdisk/initrd' },
    requires: ['flake', 'host'],
    timeoutMs: 60 * 60_000,
  },
};

const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function checkParams(params: unknown): Record<string, string> {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw new NetbootError('validation', 'field "params": an object of text values', { field: 'params' });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (!PARAM_NAME.test(k)) throw new NetbootError('validation', `field "params.${k}": a param name is letters, digits and "_"`, { field: `params.${k}` });
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new NetbootError('validation', `field "params.${k}": text, a number or true/false`, { field: `params.${k}` });
    const s = String(v);
    if (s.length > 4096 || s.includes('\0')) throw new NetbootError('validation', `field "params.${k}": at most 4096 characters, no NUL`, { field: `params.${k}` });
    out[k] = s;
  }
  return out;
}

export interface StepContext {
  outputDir: string;
  params: Record<string, string>;
}

/**
 * The argument arrays a recipe runs for one build. `{name}` is a param (or `outputDir`); an argument
 * that is exactly `{name}` with an empty or missing value drops out together with the flag before it
 * when that flag starts with `--` (so `--builders {builders}` disappears without builders).
 */
export function stepsFor(recipe: Recipe, ctx: StepContext): string[][] {
  for (const r of recipe.requires ?? []) {
    if (!ctx.params[r]) throw new NetbootError('validation', `recipe "${recipe.name}" needs params.${r}`, { field: `params.${r}` });
  }
  const value = (name: string) => (name === 'outputDir' ? ctx.outputDir : ctx.params[name]);
  return recipe.steps.map((step) => {
    const out: string[] = [];
    for (const arg of step) {
      const whole = /^\{([A-Za-z][A-Za-z0-9_]*)\}$/.exec(arg);
      if (whole && !value(whole[1])) {
        if (out.length && out[out.length - 1].startsWith('--')) out.pop();
        continue;
      }
      out.push(arg.replace(/\{([A-Za-z][A-Za-z0-9_]*)\}/g, (_m, n: string) => {
        const v = value(n);
        if (v === undefined) throw new NetbootError('validation', `recipe "${recipe.name}": no params.${n}`, { field: `params.${n}` });
        return v;
      }));
    }
    return out;
  });
}

/** A recipe from the node's settings or a message: checked, never trusted to be well formed. */
export function parseRecipe(name: string, raw: unknown): Recipe {
  const r = raw as Partial<Recipe> | undefined;
  if (!r || typeof r !== 'object') throw new NetbootError('validation', `recipe "${name}": an object {steps, outputs, env?, shell?}`, { field: 'recipe' });
  if (!Array.isArray(r.steps) || !r.steps.length || !r.steps.every((s) => Array.isArray(s) && s.length > 0 && s.every((a) => typeof a === 'string'))) {
    throw new NetbootError('validation', `recipe "${name}": "steps" is a list of argument arrays, e.g. [["make", "image"]]`, { field: 'recipe.steps' });
  }
  if (!r.outputs || typeof r.outputs.kernel !== 'string' || typeof r.outputs.initrd !== 'string') {
    throw new NetbootError('validation', `recipe "${name}": "outputs" names the kernel and initrd in the output folder`, { field: 'recipe.outputs' });
  }
  for (const p of Object.values(r.outputs)) {
    if (typeof p !== 'string' || p.startsWith('/') || p.split('/').includes('..')) throw new NetbootError('validation', `recipe "${name}": output "${String(p)}" must stay inside the output folder`, { field: 'recipe.outputs' });
  }
  if (r.env && (typeof r.env !== 'object' || !Object.values(r.env).every((v) => typeof v === 'string'))) throw new NetbootError('validation', `recipe "${name}": "env" is an object of text values`, { field: 'recipe.env' });
  return { name, steps: r.steps, outputs: r.outputs, ...(r.env ? { env: r.env } : {}), ...(r.shell === true ? { shell: true } : {}), ...(typeof r.timeoutMs === 'number' ? { timeoutMs: r.timeoutMs } : {}), ...(Array.isArray(r.requires) ? { requires: r.requires.map(String) } : {}) };
}
