import { randomUUID } from 'node:crypto';

/**
 * Request/response through a Node-RED flow, like `http in` / `http response`: a server part asks
 * (`ask`), the node sends a message carrying the request id, and the flow's answer comes back into
 * the node, which calls `answer(id, value)`. Past the deadline the asker gets `undefined` and a late
 * answer is ignored, so a slow or broken flow never stalls a boot.
 */
export class FlowRequests<Q, A> {
  private readonly pending = new Map<string, { resolve: (a: A | undefined) => void; timer?: NodeJS.Timeout }>();
  private sender?: (id: string, question: Q) => void;

  /** `prefix` starts every id, so one node input can tell which kind of question an answer is for. */
  constructor(readonly prefix = '') {}

  /** The node that forwards questions into the flow; undefined when none is deployed. */
  setSender(sender: ((id: string, question: Q) => void) | undefined): void {
    this.sender = sender;
  }

  get hasSender(): boolean {
    return this.sender !== undefined;
  }

  /**
   * Sends the question into the flow. The deadline is either a number of ms (this class keeps the
   * timer) or the asker's AbortSignal (the asker keeps the one timer, e.g. the DHCP server's).
   */
  ask(question: Q, deadline: number | AbortSignal): Promise<A | undefined> {
    const send = this.sender;
    if (!send) return Promise.resolve(undefined);
    if (typeof deadline !== 'number' && deadline.aborted) return Promise.resolve(undefined);
    const id = `${this.prefix}${randomUUID()}`;
    return new Promise<A | undefined>((resolve) => {
      const expire = () => {
        if (!this.pending.delete(id)) return;
        resolve(undefined);
      };
      let timer: NodeJS.Timeout | undefined;
      if (typeof deadline === 'number') {
        timer = setTimeout(expire, deadline);
        timer.unref?.();
      } else {
        deadline.addEventListener('abort', expire, { once: true });
      }
      this.pending.set(id, { resolve, timer });
      try {
        send(id, question);
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(undefined);
      }
    });
  }

  /** Returns false when the id is unknown (answered already, or past its deadline). */
  answer(id: string, value: A | undefined): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.resolve(value);
    return true;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Answers every open question with `undefined`. */
  cancelAll(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(undefined);
      this.pending.delete(id);
    }
  }
}
