/**
 * `type.v3.FractionalPercent` for HTTP filter configs (control side parses, workers draw).
 */
import * as v from "valibot";
import { enumOf, message, uint32 } from "../../config/schema.ts";

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** A FractionalPercent: `{numerator, denominator}` → `{ numerator, denominator }` as numbers. */
export const fractionalPercent = v.pipe(
  message({
    numerator: v.optional(uint32(), 0),
    denominator: v.optional(enumOf(["HUNDRED", "TEN_THOUSAND", "MILLION"]), "HUNDRED"),
  }),
  v.transform((p) => ({ numerator: p.numerator, denominator: DENOMINATORS[p.denominator] })),
);

/** A parsed FractionalPercent. */
export interface Percent {
  readonly numerator: number;
  readonly denominator: number;
}

let seed = (Math.random() * 0x7fffffff) | 1;

/** Worker side: a pseudo-random non-negative 31-bit integer (xorshift). */
export function random31(): number {
  let x = seed;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  seed = x;
  return x >>> 1;
}

/** Worker side: true with probability numerator/denominator (Envoy: random % denominator < numerator). */
export function draw(p: Percent, numerator = p.numerator): boolean {
  if (numerator >= p.denominator) return true;
  if (numerator <= 0) return false;
  return random31() % p.denominator < numerator;
}
