import type { Node, NodeStatus } from './red';

/**
 * A node's status at most once per `ms` for the per-request successes (a translated status per
 * request costs more than answering a boot script at thousands of requests a second): the first
 * shows at once, later ones within the window only as the latest, built when shown. `now` shows at
 * once and drops what was waiting (errors, so a success from before cannot hide them).
 */
export interface StatusThrottle {
  later(make: () => NodeStatus): void;
  now(status: NodeStatus): void;
  close(): void;
}

export function statusThrottle(node: Node, ms = 500): StatusThrottle {
  let pending: (() => NodeStatus) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (!pending) return;
    const make = pending;
    pending = undefined;
    node.status(make());
    timer = setTimeout(flush, ms);
  };
  return {
    later(make) {
      pending = make;
      if (!timer) flush();
    },
    now(status) {
      pending = undefined;
      node.status(status);
    },
    close() {
      pending = undefined;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
