/**
 * Request path normalisation for the HCM (worker side), as Envoy's PathUtil does it:
 * `normalize_path` (RFC 3986 §5.2.4 dot-segment removal, `%2E` as a dot and `\` as a slash, as
 * the URL canonicaliser Envoy uses treats them), `merge_slashes`, and the escaped-slash handling
 * of `path_with_escaped_slashes_action`. Only the path part is touched; the query stays as is.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto
 */

function splitQuery(path: string): [string, string] {
  const q = path.indexOf("?");
  return q < 0 ? [path, ""] : [path.slice(0, q), path.slice(q)];
}

const ESCAPED_SLASH = /%2f|%5c/i;
const ESCAPED_SLASH_G = /%2f|%5c/gi;

/** Worker: `%2F`/`%5C` (any case) in the path part unescaped to `/` and `\`; null if none. */
export function unescapeSlashes(path: string): string | null {
  const [p, q] = splitQuery(path);
  if (!ESCAPED_SLASH.test(p)) return null;
  return p.replace(ESCAPED_SLASH_G, (m) => (m[1] === "2" ? "/" : "\\")) + q;
}

/** Worker: RFC 3986 §5.2.4 remove_dot_segments on the path part, `%2e` read as "." and `\`
 *  as "/"; null when the path is not origin-form (does not start with "/"). */
export function canonicalPath(path: string): string | null {
  const [raw, q] = splitQuery(path);
  if (raw.charCodeAt(0) !== 47 && raw.charCodeAt(0) !== 92) return null;
  let p = raw;
  if (p.includes("\\")) p = p.replaceAll("\\", "/");
  if (/%2e/i.test(p)) p = p.replace(/%2e/gi, ".");
  if (!p.includes("/.")) return p + q;
  const segs = p.split("/");
  const out: string[] = [];
  // segs[0] is "" (the leading slash).
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === ".") {
      if (last) out.push("");
    } else if (s === "..") {
      out.pop();
      if (last) out.push("");
    } else {
      out.push(s);
    }
  }
  return "/" + out.join("/") + q;
}

/** Worker: runs of "/" in the path part collapsed to one. */
export function mergeSlashes(path: string): string {
  const [p, q] = splitQuery(path);
  if (!p.includes("//")) return path;
  return p.replace(/\/{2,}/g, "/") + q;
}
