/**
 * CIDR ranges for internal-address detection (HCM `internal_address_config.cidr_ranges`):
 * parsed once on the control side into bytes and a prefix length; matched per request on the
 * worker side without allocating beyond the address parse.
 */

/** A parsed range: the network bytes (4 or 16) and the prefix length. */
export interface CidrRange {
  readonly bytes: Uint8Array;
  readonly prefixLen: number;
}

/** Parses an IPv4 or IPv6 literal (no brackets, no zone) into 4 or 16 bytes; null if invalid.
 *  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is returned as its 4 IPv4 bytes. */
export function parseIp(s: string): Uint8Array | null {
  if (s.startsWith("::ffff:") && s.includes(".")) s = s.slice(7);
  if (!s.includes(":")) {
    const parts = s.split(".");
    if (parts.length !== 4) return null;
    const out = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      const p = parts[i]!;
      if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
      out[i] = Number(p);
    }
    return out;
  }
  let head: string[];
  let tail: string[];
  const dbl = s.indexOf("::");
  if (dbl >= 0) {
    if (s.indexOf("::", dbl + 1) >= 0) return null;
    head = s.slice(0, dbl) ? s.slice(0, dbl).split(":") : [];
    tail = s.slice(dbl + 2) ? s.slice(dbl + 2).split(":") : [];
  } else {
    head = s.split(":");
    tail = [];
  }
  // A trailing dotted quad counts as two groups.
  const groups: number[] = [];
  const push = (list: string[], into: number[]): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (i === list.length - 1 && g.includes(".")) {
        const v4 = parseIp(g);
        if (v4 === null || v4.length !== 4) return false;
        into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
        into.push(parseInt(g, 16));
      }
    }
    return true;
  };
  const h: number[] = [];
  const t: number[] = [];
  if (!push(head, h) || !push(tail, t)) return null;
  const missing = 8 - h.length - t.length;
  if ((dbl < 0 && missing !== 0) || missing < 0 || (dbl >= 0 && missing < 1)) return null;
  groups.push(...h, ...new Array<number>(dbl >= 0 ? missing : 0).fill(0), ...t);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  return out;
}

/** Whether `ip` (a literal) lies in one of `ranges`. */
export function inRanges(ip: string, ranges: readonly CidrRange[]): boolean {
  const b = parseIp(ip);
  if (b === null) return false;
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k]!;
    if (r.bytes.length !== b.length) continue;
    let bits = r.prefixLen;
    let i = 0;
    for (; bits >= 8; i++, bits -= 8) if (b[i] !== r.bytes[i]) break;
    if (bits >= 8) continue;
    if (bits === 0 || ((b[i]! ^ r.bytes[i]!) & (0xff << (8 - bits)) & 0xff) === 0) return true;
  }
  return false;
}
