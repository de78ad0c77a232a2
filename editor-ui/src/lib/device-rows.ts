/**
 * The Devices table's rows, drawn by hand instead of by Vue components. A row element stays in
 * its place in the table and shows whichever machine is there now; each of its texts is a text
 * node of its own that changes only when its words do (a machine that moved on from one stage to
 * the next changes one text node, not its row).
 *
 * Why not a component per row: in a boot storm, a table sorted by last seen is all new machines
 * at the top in every batch. With 20 dashboards open on the boot server's own two cores, Vue
 * working out each row again (render, diff, a new text node for every changed cell) was the
 * largest part of what each batch cost a page, after the layout of rows made anew, which keying
 * rows by their place had already removed.
 */
import { ago, formatMs, healthOf, type Machine } from './fleet';

type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** What every row is drawn against, beside its machine. */
export interface RowContext {
  now: number;
  /** The selected machine's MAC ('' for none). */
  selected: string;
  canWrite: boolean;
  t: Translate;
}

/** A text node set only when its words changed. */
class Text {
  readonly node: globalThis.Text;
  constructor(doc: Document, parent: Node) {
    this.node = doc.createTextNode('');
    parent.appendChild(this.node);
  }
  set(value: string): void {
    if (this.node.nodeValue !== value) this.node.nodeValue = value;
  }
}

/** An element shown (attached to `parent`, before `before`) or not. */
function place(parent: Node, el: Node, on: boolean, before: Node | null = null): void {
  if (on) {
    if (el.parentNode !== parent) parent.insertBefore(el, before);
  } else if (el.parentNode) el.parentNode.removeChild(el);
}

function attr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

function cls(el: Element, value: string): void {
  if (el.className !== value) el.className = value;
}

/** One row of the table: a `tr` of ten cells, with the table's roles for assistive technology. */
export class DeviceRowView {
  readonly el: HTMLTableRowElement;
  private machine: Machine | undefined;
  private rev = -1;
  private now = -1;
  private selected = false;
  private canWrite = false;
  private readonly dot: HTMLElement;
  private readonly health: Text;
  private readonly cut: HTMLElement;
  private readonly hostname: Text;
  private readonly mark: HTMLElement;
  private readonly markText: Text;
  private readonly nameCell: HTMLElement;
  private readonly quick: HTMLButtonElement;
  private readonly quickText: Text;
  private readonly mac: Text;
  private readonly archCell: HTMLElement;
  private readonly arch: Text;
  private readonly model: HTMLElement;
  private readonly modelText: Text;
  private readonly serial: HTMLElement;
  private readonly serialText: Text;
  private readonly group: Text;
  private readonly profileCell: HTMLElement;
  private readonly profile: Text;
  private readonly labels: HTMLElement;
  private readonly labelsText: Text;
  private readonly stageCell: HTMLElement;
  private readonly stage: Text;
  private readonly bar: HTMLElement;
  private readonly barFill: HTMLElement;
  private readonly lastBootCell: HTMLElement;
  private readonly lastBoot: Text;
  private readonly ip: Text;
  private readonly seen: Text;

  constructor(doc: Document = document) {
    const el = (tag: string, parent: Node | null, className = ''): HTMLElement => {
      const e = doc.createElement(tag);
      if (className) e.className = className;
      parent?.appendChild(e);
      return e;
    };
    const tr = doc.createElement('tr');
    tr.setAttribute('role', 'row');
    tr.tabIndex = 0;
    this.el = tr;
    const cell = (className = '', col = ''): HTMLElement => {
      const td = el('td', tr, className);
      td.setAttribute('role', 'cell');
      if (col) td.dataset.col = col;
      return td;
    };
    const status = cell();
    this.dot = el('span', status, 'nb-dot');
    this.health = new Text(doc, status);
    this.nameCell = cell('nb-name');
    this.cut = el('span', this.nameCell, 'nb-cut');
    this.hostname = new Text(doc, this.cut);
    this.mark = el('span', null, 'nb-new');
    this.markText = new Text(doc, this.mark);
    this.quick = el('button', null, 'nb-quick') as HTMLButtonElement;
    this.quick.type = 'button';
    this.quickText = new Text(doc, this.quick);
    this.mac = new Text(doc, cell('nb-mono'));
    this.archCell = cell();
    this.arch = new Text(doc, this.archCell);
    this.model = el('span', null, 'nb-muted');
    this.modelText = new Text(doc, this.model);
    this.serial = el('span', null, 'nb-muted nb-mono');
    this.serialText = new Text(doc, this.serial);
    this.group = new Text(doc, cell('', 'group'));
    this.profileCell = cell('', 'profile');
    this.profile = new Text(doc, this.profileCell);
    this.labels = el('span', null, 'nb-labels');
    this.labelsText = new Text(doc, this.labels);
    this.stageCell = cell();
    this.stage = new Text(doc, this.stageCell);
    this.bar = el('div', null, 'nb-bar');
    this.barFill = el('span', this.bar);
    this.lastBootCell = cell('', 'last-boot');
    this.lastBoot = new Text(doc, this.lastBootCell);
    this.ip = new Text(doc, cell('nb-mono'));
    this.seen = new Text(doc, cell('nb-muted'));
  }

  /** Shows `m`; only what changed since the last call is written to the page. */
  update(m: Machine, ctx: RowContext): void {
    const selected = m.mac === ctx.selected;
    if (m === this.machine && m.rev === this.rev && ctx.now === this.now && selected === this.selected && ctx.canWrite === this.canWrite) return;
    this.machine = m;
    this.rev = m.rev;
    this.now = ctx.now;
    this.selected = selected;
    this.canWrite = ctx.canWrite;
    const { t } = ctx;
    const tr = this.el;
    if (tr.dataset.mac !== m.mac) tr.dataset.mac = m.mac;
    cls(tr, selected && m.status === 'unknown' ? 'selected unknown' : selected ? 'selected' : m.status === 'unknown' ? 'unknown' : '');

    const health = healthOf(m);
    cls(this.dot, `nb-dot ${health}`);
    this.health.set(` ${t(`health.${health}`)}`);

    this.hostname.set(m.hostname);
    const mark = m.status === 'unknown' ? t('unknownDevice') : m.status === 'enrolled' ? t('enrolledDevice') : '';
    this.markText.set(` ${mark}`);
    place(this.cut, this.mark, !!mark);
    const quick = m.status === 'unknown' ? 'register' : m.status === 'enrolled' ? 'approve' : '';
    if (quick) {
      attr(this.quick, 'data-quick', quick);
      this.quickText.set(t(`manage.${quick}`));
    }
    place(this.nameCell, this.quick, ctx.canWrite && !!quick);

    this.mac.set(m.mac);

    attr(this.archCell, 'title', m.model || null);
    this.arch.set(m.arch);
    this.modelText.set(`${m.arch ? ' · ' : ''}${m.model}`);
    place(this.archCell, this.model, !!m.model, this.serial.parentNode ? this.serial : null);
    this.serialText.set(` ${m.serial}`);
    place(this.archCell, this.serial, !!m.serial);

    this.group.set(m.group);

    this.profile.set(m.profileId || m.imageId);
    const labels = Object.entries(m.labels).map(([k, v]) => (v ? `${k}=${v}` : k)).join(' ');
    attr(this.labels, 'title', labels || null);
    this.labelsText.set(` ${labels}`);
    place(this.profileCell, this.labels, !!labels);

    this.stage.set(m.stage ? t(`stage.${m.stage}`) : '');
    const bar = m.transfer ? `${Math.min(100, (100 * m.transfer.bytes) / m.transfer.size)}%` : '';
    if (bar && this.barFill.style.width !== bar) this.barFill.style.width = bar;
    place(this.stageCell, this.bar, !!bar);

    this.lastBoot.set(m.last ? `${t(`outcome.${m.last.outcome}`)}${m.last.toOsMs !== null ? ` · ${formatMs(m.last.toOsMs)}` : ''}` : '');
    cls(this.lastBootCell, m.last?.outcome === 'failed' ? 'bad' : '');

    this.ip.set(m.ip);
    this.seen.set(ago(m.lastSeen, ctx.now, t));
  }
}

/**
 * The rows of the table's window, in a `tbody` the caller owns (Vue leaves its children alone).
 * Row elements are kept by their place in the whole list: a batch of events changes the text of
 * rows that stay; scrolling moves the few row elements that left the window to where rows came in.
 * A row that holds the keyboard focus is never given to another place (the focus would move with
 * it to another machine): it leaves the page with its place.
 */
export class DeviceRows {
  private byIndex = new Map<number, DeviceRowView>();

  constructor(private readonly body: HTMLElement) {}

  /** Draws rows `first`.. of `machines` (the window's machines, in order). */
  draw(first: number, machines: readonly Machine[], ctx: RowContext): void {
    const last = first + machines.length - 1;
    const free: DeviceRowView[] = [];
    for (const [i, view] of this.byIndex) {
      if (i >= first && i <= last) continue;
      this.byIndex.delete(i);
      // out of the page before the rows are put in order: left in place, every row after it would be moved
      const focused = view.el.contains(view.el.ownerDocument.activeElement);
      view.el.remove();
      if (!focused) free.push(view);
    }
    // the window's rows in order: a row already in its place is passed, one that is not (reused, or new) goes there
    let cursor: ChildNode | null = this.body.firstChild;
    for (let k = 0; k < machines.length; k++) {
      const i = first + k;
      let view = this.byIndex.get(i);
      if (!view) {
        view = free.pop() ?? new DeviceRowView(this.body.ownerDocument);
        this.byIndex.set(i, view);
      }
      view.update(machines[k], ctx);
      if (view.el === cursor) cursor = cursor.nextSibling;
      else this.body.insertBefore(view.el, cursor);
    }
  }

  /** The row elements in the page, by place (for tests). */
  get size(): number {
    return this.byIndex.size;
  }
}
