/** How many requests one source may send: a burst, then a steady rate. */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

/**
 * A token bucket per key (endpoint + client address): a full bucket holds `burst` requests and
 * refills at `perSecond`. `take` answers 0 when the request may go on, else the seconds to wait.
 * Full buckets are forgotten, so memory follows the sources sending right now; beyond `maxKeys`
 * buckets (many addresses at once), the least recently used are forgotten.
 */
export function tokenBuckets(
  { burst, perSecond }: RateLimit,
  now: () => number = () => performance.now(),
  maxKeys = 10_000,
) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = now();

  const refill = (bucket: { tokens: number; at: number }, at: number) => {
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.at) / 1000) * perSecond);
    bucket.at = at;
  };

  return {
    take(key: string): number {
      const at = now();
      if (at - lastSweep > 60_000) {
        lastSweep = at;
        for (const [k, bucket] of buckets) {
          refill(bucket, at);
          if (bucket.tokens >= burst) buckets.delete(k);
        }
      }
      let bucket = buckets.get(key);
      if (bucket) buckets.delete(key); // re-inserted last: the Map's order is the recency order
      buckets.set(key, (bucket ??= { tokens: burst, at }));
      while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
      refill(bucket, at);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    },
  };
}
