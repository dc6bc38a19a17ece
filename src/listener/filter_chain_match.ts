/**
 * Filter-chain matching (control side compiles and checks, worker side looks up), in Envoy's
 * order: destination port, destination IP, server name, transport protocol, application
 * protocols, direct source IP, source type, source IP, source port. At each step the most
 * specific value any chain names wins (an exact port over none, the longest prefix, an exact
 * server name over `*.b.c` over `*.c` over none, …) and only the chains under it go on to the
 * next step; there is no backtracking, so a connection can match no chain even though a less
 * specific chain would have accepted it (Envoy does the same). No match: the listener's
 * default_filter_chain, else the connection is closed.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/listener/v3/listener_components.proto#config-listener-v3-filterchainmatch
 *
 * The chains are compiled once per listener config into a nine-level decision tree; a lookup is
 * one map probe per level (one per distinct prefix length on the IP levels), with no regexes.
 */
import type { CidrRangeModel, FilterChainMatchModel } from "../config/model.ts";

/** What a connection offers to the matcher (worker side). */
export interface FilterChainMatchInput {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The peer that connected to us (differs from remoteAddress only after a PROXY header). */
  readonly directRemoteAddress: string;
  /** SNI ("" = none; there is no TLS inspector yet). */
  readonly serverName: string;
  /** "raw_buffer" unless a listener filter detected something else ("tls"). */
  readonly transportProtocol: string;
  /** ALPN offered by the client (empty until the TLS inspector exists). */
  readonly applicationProtocols: readonly string[];
}

/** Two chains whose matching rules overlap exactly on some connection (a config error). */
export class DuplicateFilterChainMatch extends Error {
  constructor(readonly first: number, readonly second: number) {
    super(`filter chains ${first} and ${second} have the same matching rules`);
  }
}

// ---- IP addresses as 32-bit words: [w] for IPv4, [w0, w1, w2, w3] for IPv6 ------------------

function parseV4(s: string): number[] | null {
  let n = 0;
  let parts = 0;
  let cur = -1;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (cur < 0 || cur > 255) return null;
      n = n * 256 + cur;
      parts++;
      cur = -1;
    } else if (c >= 48 && c <= 57) cur = (cur < 0 ? 0 : cur * 10) + (c - 48);
    else return null;
  }
  return parts === 4 ? [n >>> 0] : null;
}

function parseV6(s: string): number[] | null {
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups: number[] = [];
  const tail: number[] = [];
  for (let h = 0; h < halves.length; h++) {
    const out = h === 0 ? groups : tail;
    if (halves[h] === "") continue;
    const parts = halves[h]!.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.includes(".") && i === parts.length - 1) {
        const v4 = parseV4(p);
        if (!v4) return null;
        out.push(v4[0]! >>> 16, v4[0]! & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
  }
  const missing = 8 - groups.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...groups, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const w: number[] = [];
  for (let i = 0; i < 8; i += 2) w.push(((all[i]! << 16) | all[i + 1]!) >>> 0);
  return w;
}

/** Parses an IPv4 or IPv6 literal (an IPv6 zone is ignored); null when it is neither. */
export function parseIpWords(s: string): number[] | null {
  return s.includes(":") ? parseV6(s) : parseV4(s);
}

function maskWord(w: number, bits: number): number {
  if (bits >= 32) return w >>> 0;
  if (bits <= 0) return 0;
  return (w & (0xffffffff << (32 - bits))) >>> 0;
}

/** The words of `ip` keeping the first `len` bits, as a map key. */
function maskedKey(ip: readonly number[], len: number): string {
  let k = "";
  for (let i = 0; i < ip.length; i++) k += (i ? ":" : "") + maskWord(ip[i]!, len - 32 * i).toString(16);
  return k;
}

function wordsToString(w: readonly number[]): string {
  if (w.length === 1) return [w[0]! >>> 24, (w[0]! >>> 16) & 255, (w[0]! >>> 8) & 255, w[0]! & 255].join(".");
  const g: string[] = [];
  for (const x of w) g.push((x >>> 16).toString(16), (x & 0xffff).toString(16));
  return g.join(":");
}

/** Control side: a CIDR range with the address masked to its prefix (Envoy normalises too), or
 *  a message saying what is wrong. */
export function normalizeCidr(address: string, prefixLen: number): CidrRangeModel | string {
  const w = parseIpWords(address);
  if (!w) return `malformed IP address: ${JSON.stringify(address)}`;
  const max = w.length * 32;
  if (prefixLen > max) return `prefix_len must be at most ${max} for ${JSON.stringify(address)}, got ${prefixLen}`;
  const masked = w.map((x, i) => maskWord(x, prefixLen - 32 * i));
  return { addressPrefix: wordsToString(masked), prefixLen };
}

function isLoopback(ip: readonly number[]): boolean {
  if (ip.length === 1) return ip[0]! >>> 24 === 127;
  return ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] === 1;
}

function sameIp(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- the decision tree ----------------------------------------------------------------------

const Step = {
  DestinationPort: 0,
  DestinationIp: 1,
  ServerName: 2,
  TransportProtocol: 3,
  ApplicationProtocol: 4,
  DirectSourceIp: 5,
  SourceType: 6,
  SourceIp: 7,
  SourcePort: 8,
} as const;
const STEPS = 9;

type Child = Level | number;

/** One step of the tree: exact keys, IP prefixes by length (longest first), and the fallback
 *  (chains that do not constrain this step). */
class Level {
  readonly exact = new Map<string | number, Child>();
  fallback: Child | undefined = undefined;
  /** Per address family: distinct prefix lengths, longest first, each with its masked keys. */
  v4: { len: number; map: Map<string, Child> }[] = [];
  v6: { len: number; map: Map<string, Child> }[] = [];
  onlyFallback = true;
}

/** Keys one chain contributes at each step ("" / 0 = unconstrained). */
function stepKeys(m: FilterChainMatchModel | undefined): (string | number)[][] {
  const ip = (rs: readonly CidrRangeModel[]) => (rs.length === 0 ? [""] : rs.map((r) => `${r.addressPrefix}/${r.prefixLen}`));
  if (!m) return [[0], [""], [""], [""], [""], [""], ["ANY"], [""], [0]];
  return [
    [m.destinationPort],
    ip(m.prefixRanges),
    m.serverNames.length ? m.serverNames.map((s) => s.toLowerCase()) : [""],
    [m.transportProtocol],
    m.applicationProtocols.length ? [...m.applicationProtocols] : [""],
    ip(m.directSourcePrefixRanges),
    [m.sourceType],
    ip(m.sourcePrefixRanges),
    m.sourcePorts.length ? [...m.sourcePorts] : [0],
  ];
}

function isUnconstrained(step: number, key: string | number): boolean {
  return step === Step.SourceType ? key === "ANY" : key === "" || key === 0;
}

/** A compiled set of filter chains (built once per listener config). */
export class FilterChainMatcher<T> {
  readonly #root: Level = new Level();
  readonly #values: T[] = [];
  readonly #default: T | undefined;
  /** Set when one unconstrained chain is all there is: no lookup needed. */
  readonly #only: T | undefined;

  /** Throws DuplicateFilterChainMatch when two chains overlap exactly on some connection. */
  constructor(chains: readonly { readonly match?: FilterChainMatchModel; readonly value: T }[], defaultChain?: T) {
    this.#default = defaultChain;
    const owner = new Map<Level, Map<string | number, number>>();
    chains.forEach((c, index) => {
      this.#values.push(c.value);
      const keys = stepKeys(c.match);
      const insert = (node: Level, step: number) => {
        for (const key of keys[step]!) {
          const unconstrained = isUnconstrained(step, key);
          if (!unconstrained) node.onlyFallback = false;
          if (step === STEPS - 1) {
            let seen = owner.get(node);
            if (!seen) owner.set(node, (seen = new Map()));
            const prev = seen.get(key);
            if (prev !== undefined && prev !== index) throw new DuplicateFilterChainMatch(prev, index);
            seen.set(key, index);
            if (unconstrained) node.fallback = index;
            else node.exact.set(key, index);
            continue;
          }
          let next: Child | undefined;
          if (unconstrained) next = node.fallback ??= new Level();
          else if (step === Step.DestinationIp || step === Step.DirectSourceIp || step === Step.SourceIp) {
            const [addr, len] = (key as string).split("/") as [string, string];
            const w = parseIpWords(addr)!;
            const fam = w.length === 1 ? node.v4 : node.v6;
            let bucket = fam.find((b) => b.len === Number(len));
            if (!bucket) {
              fam.push((bucket = { len: Number(len), map: new Map() }));
              fam.sort((a, b) => b.len - a.len);
            }
            const mk = maskedKey(w, Number(len));
            next = bucket.map.get(mk);
            if (next === undefined) bucket.map.set(mk, (next = new Level()));
          } else {
            next = node.exact.get(key);
            if (next === undefined) node.exact.set(key, (next = new Level()));
          }
          insert(next as Level, step + 1);
        }
      };
      insert(this.#root, 0);
    });
    const only = chains.length === 1 && !chains[0]!.match;
    this.#only = only ? chains[0]!.value : undefined;
  }

  /** Worker side: the chain for a connection, the default chain, or undefined (close it). */
  match(c: FilterChainMatchInput): T | undefined {
    if (this.#only !== undefined) return this.#only;
    let node: Child = this.#root;
    let local: number[] | null | undefined;
    let remote: number[] | null | undefined;
    let direct: number[] | null | undefined;
    for (let step = 0; step < STEPS; step++) {
      const n = node as Level;
      let next: Child | undefined;
      if (n.onlyFallback) next = n.fallback;
      else {
        switch (step) {
          case Step.DestinationPort:
            next = n.exact.get(c.localPort) ?? n.fallback;
            break;
          case Step.DestinationIp:
            if (local === undefined) local = parseIpWords(c.localAddress);
            next = lookupIp(n, local);
            break;
          case Step.ServerName:
            next = lookupServerName(n, c.serverName);
            break;
          case Step.TransportProtocol:
            next = n.exact.get(c.transportProtocol) ?? n.fallback;
            break;
          case Step.ApplicationProtocol: {
            const alpn = c.applicationProtocols;
            for (let i = 0; i < alpn.length && next === undefined; i++) next = n.exact.get(alpn[i]!);
            next ??= n.fallback;
            break;
          }
          case Step.DirectSourceIp:
            if (direct === undefined) direct = parseIpWords(c.directRemoteAddress);
            next = lookupIp(n, direct);
            break;
          case Step.SourceType: {
            if (local === undefined) local = parseIpWords(c.localAddress);
            if (remote === undefined) remote = parseIpWords(c.remoteAddress);
            const sameOrLoopback = remote !== null && (isLoopback(remote) || (local !== null && sameIp(local, remote)));
            next = n.exact.get(sameOrLoopback ? "SAME_IP_OR_LOOPBACK" : "EXTERNAL") ?? n.fallback;
            break;
          }
          case Step.SourceIp:
            if (remote === undefined) remote = parseIpWords(c.remoteAddress);
            next = lookupIp(n, remote);
            break;
          case Step.SourcePort:
            next = n.exact.get(c.remotePort) ?? n.fallback;
            break;
        }
      }
      if (next === undefined) return this.#default;
      node = next;
    }
    return this.#values[node as number];
  }
}

function lookupIp(n: Level, ip: number[] | null): Child | undefined {
  if (ip !== null) {
    const fam = ip.length === 1 ? n.v4 : n.v6;
    for (let i = 0; i < fam.length; i++) {
      const hit = fam[i]!.map.get(maskedKey(ip, fam[i]!.len));
      if (hit !== undefined) return hit;
    }
  }
  return n.fallback;
}

/** Exact name, then `*.` wildcards from the longest suffix, then chains without server_names. */
function lookupServerName(n: Level, sni: string): Child | undefined {
  if (sni === "") return n.fallback;
  const name = sni.toLowerCase();
  const exact = n.exact.get(name);
  if (exact !== undefined) return exact;
  for (let i = name.indexOf("."); i >= 0; i = name.indexOf(".", i + 1)) {
    const hit = n.exact.get("*" + name.slice(i));
    if (hit !== undefined) return hit;
  }
  return n.fallback;
}
