import { describe, expect, it } from 'vitest';
import { BUILTIN_RECIPES, checkParams, parseRecipe, stepsFor } from '../../../lib/builds/recipes';

describe('build recipes', () => {
  it('puts a param into an argument as one whole value, never as shell text', () => {
    const r = parseRecipe('t', { steps: [['printf', '%s\\n', '{marker}', 'x-{marker}']], outputs: { kernel: 'k', initrd: 'i' } });
    const hostile = '$(touch /tmp/pwned); `reboot` && rm -rf / "quoted" \'single\'';
    expect(stepsFor(r, { outputDir: '/o', params: { marker: hostile } })).toEqual([['printf', '%s\\n', hostile, `x-${hostile}`]]);
  });

  it('builds the nixos commands from a flake and host, with remote builders when given', () => {
    const steps = stepsFor(BUILTIN_RECIPES.nixos, { outputDir: '/out', params: { flake: 'github:me/lab', host: 'node1' } });
    expect(steps).toEqual([
      ['nix', 'build', '--no-link', '--out-link', '/out/kernel', 'github:me/lab#nixosConfigurations.node1.config.system.build.kernel'],
      ['nix', 'build', '--no-link', '--out-link', '/out/ramdisk', 'github:me/lab#nixosConfigurations.node1.config.system.build.netbootRamdisk'],
    ]);
    const remote = stepsFor(BUILTIN_RECIPES.nixos, { outputDir: '/out', params: { flake: '.', host: 'n', builders: 'ssh://big x86_64-linux' } });
    expect(remote[0].slice(-2)).toEqual(['--builders', 'ssh://big x86_64-linux']);
    expect(() => stepsFor(BUILTIN_RECIPES.nixos, { outputDir: '/o', params: { flake: '.' } })).toThrow(/needs params.host/);
    expect(BUILTIN_RECIPES.nixos.outputs).toEqual({ kernel: 'kernel/bzImage', initrd: 'ramdisk/initrd' });
  });

  it('refuses malformed recipes and params with the field named', () => {
    expect(() => parseRecipe('x', { steps: 'make image', outputs: { kernel: 'k', initrd: 'i' } })).toThrow(/"steps" is a list of argument arrays/);
    expect(() => parseRecipe('x', { steps: [['make']], outputs: { kernel: '../../etc/passwd', initrd: 'i' } })).toThrow(/inside the output folder/);
    expect(() => parseRecipe('x', { steps: [['make']], outputs: { kernel: 'k' } })).toThrow(/outputs/);
    expect(parseRecipe('x', { steps: [['make']], outputs: { kernel: 'k', initrd: 'i' }, shell: 'yes' }).shell).toBeUndefined();
    expect(() => checkParams({ 'bad-name': 'x' })).toThrow(/params.bad-name/);
    expect(() => checkParams({ a: { nested: 1 } })).toThrow(/params.a/);
    expect(checkParams({ a: 1, b: true, c: 'x' })).toEqual({ a: '1', b: 'true', c: 'x' });
  });
});
