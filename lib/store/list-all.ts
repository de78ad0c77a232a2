import type { ListQuery, Page } from './types';

const PAGE = 500;

/** Every record of a collection's list (a page of 500 at a time), e.g. `listAll((q) => store.devices.list(q))`. */
export async function listAll<T>(list: (q: Required<Pick<ListQuery, 'offset' | 'limit'>>) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await list({ offset, limit: PAGE });
    out.push(...page.items);
    if (page.items.length === 0 || out.length >= page.total) return out;
  }
}
