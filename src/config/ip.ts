/**
 * IP literal checks (control side). Envoy requires IP addresses (not hostnames) for listeners,
 * the admin address and STATIC cluster endpoints.
 */

/** Control side: true for a dotted-quad IPv4 address such as `10.0.0.1` (no leading zeros). */
export function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** Control side: true for an IPv6 address such as `::1` or `::ffff:10.0.0.1` (no brackets, no zone). */
export function isIPv6(s: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  const halves = s.split("::");
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    const isLast = i === all.length - 1;
    if (isLast && g.includes(".")) {
      if (!isIPv4(g)) return false;
      count += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) count += 1;
    else return false;
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** Control side: true for an IPv4 or IPv6 literal. */
export function isIpLiteral(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}
