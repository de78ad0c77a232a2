/**
 * WinPE helper files, injected by wimboot into `\\Windows\\System32`: `startnet.cmd` (reports each stage to
 * the boot server and uploads Setup's logs) and `winpeshl.ini`. They are cmd.exe / INI text with CRLF
 * line endings, not iPXE, so they have their own file; the URLs go through the same allow-lists.
 */
import { normalizeMac } from '../core/mac';
import { DEFAULT_IPXE_PATHS, type IpxePaths } from './ipxe';
import { safeUrl, unsafe } from './ipxe-safe';


export interface WinpeContext {
  baseUrl: string;
  /** The device's MAC; the files are served per device, so no iPXE expansion is available here. */
  mac: string;
  paths?: Partial<IpxePaths>;
}

function winpeUrls(ctx: WinpeContext): { log: string; upload: string } {
  const base = safeUrl(ctx.baseUrl, 'baseUrl').replace(/\/+$/, '');
  // cmd.exe expands %VAR% and treats ^ & | < > specially even inside some quoting: keep them out.
  if (/[%^!]/.test(base) || base.includes('?')) unsafe('baseUrl', 'must not contain "%", "^", "!" or a query string in a WinPE script');
  const paths = { ...DEFAULT_IPXE_PATHS, ...(ctx.paths ?? {}) };
  for (const k of ['log', 'winpeUpload'] as const) {
    if (!/^\/[A-Za-z0-9._/-]*$/.test(paths[k])) unsafe(`paths.${k}`, 'must be a path of letters, digits and "._/-"');
  }
  const mac = normalizeMac(ctx.mac).replace(/:/g, '-');
  return { log: `${base}${paths.log}?mac=${mac}`, upload: `${base}${paths.winpeUpload}?mac=${mac}` };
}

const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n`;

/**
 * `startnet.cmd`: start networking, report each stage with `POST <log>?mac=..&stage=..` (empty body), run Windows
 * Setup when the image has one, then upload Setup's logs with `PUT <upload>?mac=..&name=..`.
 * Uses `curl.exe` when present and PowerShell otherwise; a failed report never stops the install.
 * Setup normally reboots the machine itself when it succeeds, so the log upload runs when Setup
 * exits (an error or a cancel), which is when the logs are wanted.
 */
export function renderWinpeStartnet(ctx: WinpeContext): string {
  const { log, upload } = winpeUrls(ctx);
  return crlf([
    '@echo off',
    'rem netboot: generated startnet.cmd - reports progress to the boot server',
    'setlocal',
    `set "NB_LOG=${log}"`,
    `set "NB_UPLOAD=${upload}"`,
    'wpeinit',
    'call :report winpe_started',
    'if not exist X:\\sources\\setup.exe goto nb_no_setup',
    'call :report setup_started',
    'X:\\sources\\setup.exe',
    'call :report setup_exited_%ERRORLEVEL%',
    'goto nb_after_setup',
    ':nb_no_setup',
    'call :report no_setup',
    ':nb_after_setup',
    'call :upload X:\\Windows\\Panther\\setupact.log setupact.log',
    'call :upload X:\\Windows\\Panther\\setuperr.log setuperr.log',
    'call :upload X:\\Windows\\system32\\wpeinit.log wpeinit.log',
    'call :report winpe_done',
    'cmd.exe /k echo netboot: WinPE finished, this is a shell',
    'goto :eof',
    '',
    ':report',
    'where curl.exe >nul 2>&1 && (',
    '  curl.exe -s -m 10 -o nul -X POST -d "" "%NB_LOG%&stage=%~1"',
    ') || (',
    '  powershell -NoProfile -Command "try { Invoke-WebRequest -UseBasicParsing -TimeoutSec 10 -Method Post -Uri ($env:NB_LOG+\'&stage=%~1\') | Out-Null } catch {}"',
    ')',
    'exit /b 0',
    '',
    ':upload',
    'if not exist "%~1" exit /b 0',
    'where curl.exe >nul 2>&1 && (',
    '  curl.exe -s -m 60 -o nul -T "%~1" "%NB_UPLOAD%&name=%~2"',
    ') || (',
    '  powershell -NoProfile -Command "try { Invoke-WebRequest -UseBasicParsing -TimeoutSec 60 -Method Put -InFile \'%~1\' -Uri ($env:NB_UPLOAD+\'&name=%~2\') | Out-Null } catch {}"',
    ')',
    'exit /b 0',
  ]);
}

/** `winpeshl.ini`: makes WinPE run our `startnet.cmd` (which runs Setup) instead of Setup directly. */
export function renderWinpeshlIni(): string {
  return crlf([
    '[LaunchApps]',
    '%SYSTEMROOT%\\System32\\cmd.exe, /c %SYSTEMROOT%\\System32\\startnet.cmd',
  ]);
}
