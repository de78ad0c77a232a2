#!/usr/bin/env node
/**
 * `netboot-store copy --from A --to B [--replace]`: moves the inventory between stores, e.g. from
 * the JSON file to PostgreSQL when a second boot server joins (docs/store.md), and checks the copy
 * by comparing both exports. Stop the boot servers that use either store first. A and B are a JSON
 * file (`file:.netboot/inventory.json` or a path) or `postgres://user@host/db`.
 * Exit codes: 0 copied and identical, 1 failed or different, 2 usage.
 */
import { copyInventory } from '../lib/store/copy';
import { openStoreAt } from '../lib/store/shared';

const USAGE = 'usage: netboot-store copy --from <file:path | postgres://…> --to <file:path | postgres://…> [--replace]';

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const opt = (name: string) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const fromText = opt('--from');
  const toText = opt('--to');
  if (verb !== 'copy' || !fromText || !toText) {
    process.stderr.write(`netboot-store: ${verb === 'copy' ? 'give --from and --to' : `unknown command "${verb ?? ''}"`}\n${USAGE}\n`);
    return 2;
  }
  let from;
  let to;
  try {
    from = await openStoreAt(fromText);
    to = await openStoreAt(toText);
    const r = await copyInventory(from, to, { replace: rest.includes('--replace') });
    process.stdout.write(`copied ${r.devices} devices, ${r.images} images, ${r.profiles} profiles, ${r.groups} groups, ${r.boots} kept boots\n`);
    if (r.differences.length) {
      process.stderr.write(`netboot-store: the copy differs from the source in ${r.differences.length} place(s): ${r.differences.slice(0, 20).join(', ')}\n`);
      return 1;
    }
    process.stdout.write('both exports match\n');
    return 0;
  } catch (err) {
    process.stderr.write(`netboot-store: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await from?.close().catch(() => undefined);
    await to?.close().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`netboot-store: ${String(err)}\n`);
  process.exit(1);
});
