/**
 * Resolvers: serve a folder, chain several resolvers, and bound a slow one with a deadline.
 */
import { promises as fsp } from 'node:fs';
import { resolveUnderRoot } from './path';
import type { TftpRequest, TftpResolver } from './server';
import type { TftpSource } from './source';

export interface StaticResolverOptions {
  /** Files up to this many bytes are kept in memory (keyed by path, size and mtime). 0 = no cache (default). */
  cacheSmallFiles?: number;
  /** Upper bound of the whole cache in bytes (default 32 MiB). */
  cacheMaxBytes?: number;
}

/**
 * Serves files below `root`. Unsafe paths (see path.ts) make the resolver throw a NetbootError
 * 'unsafe_value' (the server answers ERROR 2); missing files, directories and symlinks whose target is
 * outside the root give null or 'unsafe_value' respectively.
 */
export function createStaticResolver(root: string, options: StaticResolverOptions = {}): TftpResolver {
  const cacheLimit = Math.max(0, options.cacheSmallFiles ?? 0);
  const cacheMax = Math.max(0, options.cacheMaxBytes ?? 32 * 1024 * 1024);
  const cache = new Map<string, { key: string; data: Buffer }>();
  let cached = 0;

  return async (req: TftpRequest): Promise<TftpSource | null> => {
    const found = await resolveUnderRoot(root, req.path);
    if (found.kind === 'missing') return null;
    if (found.kind === 'unsafe') throw found.error;
    const { stat, realPath } = found;
    if (cacheLimit > 0 && stat.size <= cacheLimit) {
      const key = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
      const hit = cache.get(realPath);
      if (hit && hit.key === key) {
        // refresh LRU position
        cache.delete(realPath);
        cache.set(realPath, hit);
        return { kind: 'buffer', data: hit.data };
      }
      const data = await fsp.readFile(realPath);
      if (data.length <= cacheLimit) {
        if (hit) {
          cached -= hit.data.length;
          cache.delete(realPath);
        }
        cache.set(realPath, { key, data });
        cached += data.length;
        // Bounded eviction: at most one pass over the cache.
        for (const [k, v] of cache) {
          if (cached <= cacheMax) break;
          cache.delete(k);
          cached -= v.data.length;
        }
      }
      return { kind: 'buffer', data };
    }
    return { kind: 'file', path: realPath, size: stat.size };
  };
}

/** Asks each resolver in turn; the first non-null answer wins. An exception stops the chain. */
export function chainResolvers(...resolvers: TftpResolver[]): TftpResolver {
  return async (req) => {
    for (const r of resolvers) {
      const found = await r(req);
      if (found !== null) return found;
    }
    return null;
  };
}

/** Wraps a resolver so that an answer slower than `ms` counts as "not found" (null). */
export function deadline(resolver: TftpResolver, ms: number): TftpResolver {
  return (req) =>
    new Promise<TftpSource | null>((resolve, reject) => {
      const timer = setTimeout(() => resolve(null), ms);
      Promise.resolve()
        .then(() => resolver(req))
        .then(
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
    });
}
