import { NetbootError } from '../core/errors';
import {
  deviceIqn,
  kernelParamsOf,
  piTftpPrefix,
  renderPiCmdlineResult,
  renderPiConfig,
  type KernelParams,
  type PiModel,
  type PiPrefixMode,
  type PiRoot,
} from '../render';
import type { BootContext, SanProvider, ScriptServer } from './boot-script';

/**
 * A Raspberry Pi's `config.txt` and `cmdline.txt` from a check-in result. Settings come from the
 * profile's `params`, then the group's `params`, then the device's `paramsOverride` (later wins),
 * under `pi.*` keys; other keys are kernel parameters added to `cmdline.txt`:
 *
 * | key | meaning |
 * |---|---|
 * | `pi.model` | 3, 4 or 5 (else from the DHCP facts or `hardware.model`, else the node default) |
 * | `pi.prefix` | TFTP folder: `serial` (default) or `mac` (Pi 4/5 `TFTP_PREFIX=2`) |
 * | `pi.root` | `nfs`, `iscsi`, `nbd` or `initramfs`; default `iscsi` with an image, else `nfs` |
 * | `pi.nfs.server`, `pi.nfs.path`, `pi.nfs.version` | NFS root; defaults: this server, `/srv/netboot/pi/<folder>`, 3 |
 * | `pi.root.uuid`, `pi.root.device` | iSCSI root file system (default `/dev/sda2`) |
 * | `pi.nbd.server`, `pi.nbd.export` | NBD root |
 * | `pi.kernel`, `pi.initramfs` | file names in the TFTP folder (`pi.initramfs` empty: none) |
 * | `pi.dtoverlay` | overlays, separated by spaces |
 *
 * An unknown Pi gets the default folder (prefix `''`, the TFTP root) and the registration
 * initramfs (`registration/initrd.img`), which posts its inventory to `/api/v1/enroll`.
 */
export interface PiFilesOptions {
  /** Model when nothing else says (default 4). */
  model?: PiModel;
  prefixMode?: PiPrefixMode;
  /** The iSCSI target node, for disks it serves: the initiator name its ACL allows, CHAP, its port. */
  san?: SanProvider;
}

export interface PiFiles {
  model: PiModel;
  /** TFTP folder with the trailing slash, or `''` for the default folder. */
  prefix: string;
  root: PiRoot['type'];
  files: { 'config.txt': string; 'cmdline.txt': string };
  containsSecret: boolean;
}

function modelOf(ctx: BootContext, settings: Record<string, string | null>, fallback: PiModel | undefined): PiModel {
  const hw = ctx.device?.hardware?.model;
  const candidates = [settings['pi.model'], ctx.facts.piModel, typeof hw === 'string' ? /Raspberry Pi (\d)/.exec(hw)?.[1] : undefined, fallback ?? 4];
  for (const c of candidates) {
    if (c === undefined || c === null || c === '') continue;
    const n = Number(c);
    if (n === 3 || n === 4 || n === 5) return n;
    throw new NetbootError('validation', `field "pi.model": ${String(c)} is not 3, 4 or 5`, { field: 'pi.model' });
  }
  return 4;
}

function str(settings: Record<string, string | null>, key: string): string | undefined {
  const v = settings[key];
  return v === null || v === undefined || v === '' ? undefined : v;
}

export function renderPiFiles(ctx: BootContext, server: ScriptServer, opts: PiFilesOptions = {}): PiFiles {
  const settings: Record<string, string | null> = { ...(ctx.profile?.params ?? {}), ...ctx.params };
  const model = modelOf(ctx, settings, opts.model);
  const mac = ctx.device?.mac ?? ctx.facts.mac;
  const serial = ctx.device?.serial ?? ctx.facts.serial;
  const known = ctx.decision.known;
  const mode = (str(settings, 'pi.prefix') ?? opts.prefixMode ?? 'serial') as PiPrefixMode;
  const prefix = known ? piTftpPrefix({ serial, mac, model }, model === 3 ? 'serial' : mode) : '';
  const folder = prefix.replace(/\/$/, '');
  const base = server.httpBaseUrl.replace(/\/+$/, '');

  const cmdline: KernelParams = {};
  for (const [k, v] of Object.entries({ ...kernelParamsOf(ctx.profile?.cmdline, 'profile.cmdline'), ...settings })) if (!k.startsWith('pi.')) cmdline[k] = v;

  let root: PiRoot;
  const rootType = known ? str(settings, 'pi.root') ?? (ctx.image ? 'iscsi' : 'nfs') : 'initramfs';
  switch (rootType) {
    case 'nfs': {
      const version = Number(str(settings, 'pi.nfs.version') ?? 3);
      root = { type: 'nfs', server: str(settings, 'pi.nfs.server') ?? server.serverIp, path: str(settings, 'pi.nfs.path') ?? `/srv/netboot/pi/${folder}`, version: version as 3 | 4 };
      break;
    }
    case 'iscsi': {
      if (!mac) throw new NetbootError('validation', 'field "mac": an iSCSI root needs the Pi\'s MAC', { field: 'mac' });
      const san = ctx.image ? opts.san?.bootInfo(ctx.image, mac) : undefined;
      const port = ctx.image?.targetPort ?? san?.port;
      root = {
        type: 'iscsi',
        initiator: san?.initiatorIqn ?? deviceIqn(server.iqnPrefix, serial ? `pi-${serial}` : mac),
        targetIqn: ctx.image?.iqn ?? deviceIqn(server.iqnPrefix, mac),
        targetIp: ctx.image?.targetHost ?? server.serverIp,
        ...(port !== undefined ? { port } : {}),
        ...(san?.chap ? { username: san.chap.username, password: san.chap.password } : {}),
        ...(str(settings, 'pi.root.uuid') ? { rootUuid: str(settings, 'pi.root.uuid') } : { rootDevice: str(settings, 'pi.root.device') ?? '/dev/sda2' }),
      };
      break;
    }
    case 'nbd':
      root = { type: 'nbd', server: str(settings, 'pi.nbd.server') ?? server.serverIp, export: str(settings, 'pi.nbd.export') ?? folder };
      break;
    case 'initramfs':
      root = { type: 'initramfs', params: known ? {} : { netboot_server: base, ...(mac ? { netboot_mac: mac } : {}) } };
      break;
    default:
      throw new NetbootError('validation', `field "pi.root": "${rootType}" is not nfs, iscsi, nbd or initramfs`, { field: 'pi.root' });
  }

  const initramfsSetting = settings['pi.initramfs'];
  const config = renderPiConfig({ model, serial, mac }, {
    kernel: str(settings, 'pi.kernel'),
    initramfs: !known ? 'registration/initrd.img' : initramfsSetting === '' || initramfsSetting === null ? null : initramfsSetting,
    dtoverlays: str(settings, 'pi.dtoverlay')?.split(/\s+/),
  });
  const cmd = renderPiCmdlineResult({ model, serial, mac }, root, { params: cmdline });
  return { model, prefix, root: root.type, files: { 'config.txt': config, 'cmdline.txt': cmd.text }, containsSecret: cmd.containsSecret };
}
