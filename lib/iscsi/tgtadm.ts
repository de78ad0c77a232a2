import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { NetbootError } from '../core/errors';
import type { Plan, Step } from './plan';
import { parseAccounts, parseLunStats, parseTargets, type TgtLunStat, type TgtTarget } from './tgt-show';

/**
 * tgtd's management tool, run with execa (argument arrays, a timeout, stderr in the error). A step
 * that carries a CHAP password never shows its arguments in an error or a log line.
 */

const INSTALL_HINT = 'tgtadm is not installed: install the "tgt" package (Debian/Ubuntu: apt-get install tgt)';

export class TgtAdmin {
  constructor(readonly controlPort: number, private readonly timeoutMs = 10_000) {}

  /** Runs `tgtadm -C <port> --lld iscsi <args>` (or without `--lld` for system-mode calls) and returns stdout. */
  async run(args: readonly string[], opts: { what?: string; secret?: boolean; lld?: boolean } = {}): Promise<string> {
    const { execa } = await import('execa');
    const full = ['-C', String(this.controlPort), ...(opts.lld === false ? [] : ['--lld', 'iscsi']), ...args];
    const what = opts.what ?? (opts.secret ? 'tgtadm (arguments hidden: they hold a secret)' : `tgtadm ${args.join(' ')}`);
    const r = await execa('tgtadm', full, { reject: false, timeout: this.timeoutMs, stdin: 'ignore' });
    if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message ?? ''))) throw new NetbootError('unavailable', INSTALL_HINT, { tool: 'tgtadm' });
    if (r.timedOut) throw new NetbootError('timeout', `${what}: tgtd did not answer within ${this.timeoutMs} ms`, { controlPort: this.controlPort });
    if (r.exitCode !== 0) {
      const said = String(r.stderr || r.stdout).trim().replace(/^tgtadm: /, '');
      if (r.exitCode === 107) throw new NetbootError('unavailable', `no tgtd answers on control port ${this.controlPort} (${said})`, { controlPort: this.controlPort, exitCode: 107 });
      throw new NetbootError(/already exists/.test(said) ? 'conflict' : /can't find/.test(said) ? 'not_found' : 'internal', `${what}: ${said || `exit ${String(r.exitCode)}`}`, { exitCode: r.exitCode });
    }
    return String(r.stdout);
  }

  async alive(): Promise<boolean> {
    try {
      await this.run(['--op', 'show', '--mode', 'sys'], { lld: false });
      return true;
    } catch {
      return false;
    }
  }

  async targets(): Promise<TgtTarget[]> {
    return parseTargets(await this.run(['--op', 'show', '--mode', 'target']));
  }

  /** Per-session read/write counters of one target (see parseLunStats). */
  async lunStats(tid: number): Promise<TgtLunStat[]> {
    return parseLunStats(await this.run(['--op', 'stat', '--mode', 'target', '--tid', String(tid)]));
  }

  async accounts(): Promise<string[]> {
    return parseAccounts(await this.run(['--op', 'show', '--mode', 'account']));
  }

  /**
   * Stops this tgtd the way it wants: it ignores SIGTERM while targets exist, so every target goes
   * first (`--force`, even with sessions), then `--op delete --mode system`; waits up to `waitMs` for
   * the control socket to stop answering. False when it still answers (or never did: nothing to stop).
   */
  async shutdown(waitMs = 5000): Promise<boolean> {
    let targets: TgtTarget[];
    try {
      targets = await this.targets();
    } catch {
      return false;
    }
    for (const t of targets) await this.run(['--op', 'delete', '--mode', 'target', '--tid', String(t.tid), '--force']).catch(() => undefined);
    await this.run(['--op', 'delete', '--mode', 'system'], { lld: false }).catch(() => undefined);
    for (const end = Date.now() + waitMs; Date.now() < end;) {
      if (!(await this.alive())) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Runs the plan's steps in order; a failed step is reported and the rest still run. */
  async apply(plan: Plan): Promise<{ applied: string[]; failed: Array<{ what: string; error: string }> }> {
    const applied: string[] = [];
    const failed: Array<{ what: string; error: string }> = [];
    for (const step of plan.steps) {
      try {
        await this.step(step);
        applied.push(step.what);
      } catch (err) {
        failed.push({ what: step.what, error: (err as Error).message });
      }
    }
    return { applied, failed };
  }

  step(step: Step): Promise<string> {
    return this.run(step.args, { what: step.what, secret: step.secret });
  }
}

export interface TgtDaemonOptions {
  controlPort: number;
  /** `0.0.0.0:3260`, `10.0.0.5:3260`. */
  portal: string;
  /** tgtd's console goes here (appended). */
  logFile: string;
  /** Where our tgtd's PID is kept, so a restarted Node-RED knows the running tgtd is its own. */
  pidFile: string;
}

/**
 * A tgtd we start ourselves: `tgtd -f` in its own process group, detached, so that a Node-RED
 * redeploy or restart does not take the disks away from running machines. tgtd ignores SIGTERM
 * while targets exist; `stop()` deletes the targets, then asks it to exit (`--op delete --mode
 * system`), and kills it only if it is still there after that.
 */
export class TgtDaemon {
  private child?: ChildProcess;
  readonly admin: TgtAdmin;

  constructor(readonly opts: TgtDaemonOptions) {
    this.admin = new TgtAdmin(opts.controlPort);
  }

  /** PID of the tgtd we started (now, or before a restart according to the PID file) if it still runs. */
  get pid(): number | undefined {
    if (this.child?.pid && this.child.exitCode === null && this.child.signalCode === null) return this.child.pid;
    try {
      const pid = Number(readFileSync(this.opts.pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('tgtd')) return pid;
    } catch {
      // no PID file, or the process is gone
    }
    return undefined;
  }

  /** Starts tgtd and waits until its control socket answers. */
  async start(onExit?: (code: number | null, signal: NodeJS.Signals | null) => void): Promise<number> {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new NetbootError('unavailable', 'tgtd needs root (its control socket lives in /var/run/tgtd and it may bind port 3260): run Node-RED as root, or start tgtd yourself and set the iSCSI node to use the running tgtd', { controlPort: this.opts.controlPort });
    }
    // a tgtd that died leaves its socket behind; a live one would have answered before we got here
    const socket = `/var/run/tgtd/socket.${this.opts.controlPort}`;
    rmSync(socket, { force: true });
    rmSync(`${socket}.lock`, { force: true });
    const log = openSync(this.opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('tgtd', ['-f', '-C', String(this.opts.controlPort), '--iscsi', `portal=${this.opts.portal}`], { detached: true, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    this.child = child;
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) {
      throw new NetbootError('unavailable', (spawned as NodeJS.ErrnoException).code === 'ENOENT' ? 'tgtd is not installed: install the "tgt" package (Debian/Ubuntu: apt-get install tgt)' : `starting tgtd: ${spawned.message}`);
    }
    child.unref();
    writeFileSync(this.opts.pidFile, `${child.pid}\n`);
    const deadline = Date.now() + 10_000;
    while (!(await this.admin.alive())) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        if (child.exitCode === null) child.kill('SIGKILL');
        throw new NetbootError('unavailable', `tgtd did not start (portal ${this.opts.portal}, control port ${this.opts.controlPort}): ${this.logTail() || 'no output'}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.once('exit', (code, signal) => onExit?.(code, signal));
    return child.pid!;
  }

  /** The last lines tgtd printed (for error messages). */
  logTail(lines = 5): string {
    try {
      return readFileSync(this.opts.logFile, 'utf8').trim().split('\n').slice(-lines).join(' | ');
    } catch {
      return '';
    }
  }

  /** Removes every target (even with sessions), stops tgtd and waits for it to exit. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    await this.admin.shutdown();
    const gone = () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!gone()) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 20 && !gone(); i++) await new Promise((r) => setTimeout(r, 50));
    rmSync(this.opts.pidFile, { force: true });
    const socket = `/var/run/tgtd/socket.${this.opts.controlPort}`;
    if (existsSync(socket)) {
      rmSync(socket, { force: true });
      rmSync(`${socket}.lock`, { force: true });
    }
  }
}
