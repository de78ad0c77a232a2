#!/usr/bin/env node
/**
 * `netboot-probe --as KIND`: behave like one kind of machine at network boot (BIOS/UEFI PXE, UEFI
 * HTTP boot, iPXE, Raspberry Pi 3/4/5), check every answer against the protocol facts and say what
 * would make the boot fail. Exit codes: 0 boot would work, 1 it would fail, 2 usage, 3 network error.
 * See docs/netboot-probe.md.
 */
import { isNetbootError } from '../lib/core/errors';
import { parseArgs, USAGE } from '../lib/probe/args';
import { formatHuman, formatJson, formatStage } from '../lib/probe/format';
import { isProbeNetworkError } from '../lib/probe/network-error';
import { runProbe } from '../lib/probe/run';
import { EXIT } from '../lib/probe/types';

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`netboot-probe: ${parsed.message}\n\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  const options = parsed.options;
  if (parsed.verbose) options.onStage = (s) => process.stderr.write(`${formatStage(s)}\n`);
  try {
    const report = await runProbe(options);
    process.stdout.write(`${parsed.json ? formatJson(report) : formatHuman(report)}\n`);
    return report.exitCode;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const network = isProbeNetworkError(err);
    const usage = !network && (isNetbootError(err, 'validation') || isNetbootError(err, 'invalid_mac'));
    const code = network ? EXIT.NETWORK : usage ? EXIT.USAGE : EXIT.NETWORK;
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify({ ok: false, exitCode: code, error: { code: isNetbootError(err) ? err.code : 'internal', message } }, null, 2)}\n`);
    } else {
      process.stderr.write(`netboot-probe: ${network ? 'network error: ' : ''}${message}\n`);
    }
    return code;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`netboot-probe: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT.NETWORK;
  },
);
