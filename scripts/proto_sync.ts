/**
 * Copies the Envoy v3 API .proto files Legate needs into proto/, from the pinned npm package
 * `@grpc/grpc-js-xds` (its deps/ folder vendors envoy-api, googleapis, protoc-gen-validate and
 * cncf/xds). Starts from ROOTS and follows every `import` transitively, so proto/ holds exactly
 * the closure and nothing else; google/protobuf/* well-known types are skipped (buf and
 * protobuf-es ship them). Line ends are normalised to LF; otherwise the files are copied as they
 * are, except one documented patch (PATCHES). Reproducible: same package version, same bytes.
 *
 *   bun scripts/proto_sync.ts           rewrite proto/ (keeps buf.yaml, buf.gen.yaml, SOURCE.txt)
 *   bun scripts/proto_sync.ts --check   exit 1 if proto/ differs from what a sync would write
 *
 * Runs on Bun and Deno (a tool; neither control nor worker side).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import process from "node:process";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const PKG = "@grpc/grpc-js-xds";
const pkgDir = join(root, "node_modules", PKG);
const depsDir = join(pkgDir, "deps");

/** Import roots, searched in order (mirrors grpc-js-xds's own protoc include path). */
const INCLUDE = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(depsDir, d));

/**
 * The files we want; everything they import comes along. Add an extension's proto here (and to
 * src/xds/type_registry.ts) when Legate learns to accept it over xDS.
 */
export const ROOTS: readonly string[] = [
  // ADS and the per-type SotW/delta services (LDS, RDS, CDS, EDS).
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/service/listener/v3/lds.proto",
  "envoy/service/route/v3/rds.proto",
  "envoy/service/cluster/v3/cds.proto",
  "envoy/service/endpoint/v3/eds.proto",
  // The four resource types and the core types they share.
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/listener/v3/listener_components.proto",
  "envoy/config/listener/v3/api_listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/route/v3/route_components.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/config/endpoint/v3/endpoint_components.proto",
  "envoy/config/core/v3/config_source.proto",
  "envoy/config/core/v3/base.proto",
  "envoy/config/core/v3/address.proto",
  "envoy/config/core/v3/protocol.proto",
  "envoy/config/core/v3/health_check.proto",
  "envoy/config/core/v3/grpc_service.proto",
  // typed_config payloads Legate understands.
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/http/buffer/v3/buffer.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/service/secret/v3/sds.proto",
];

/**
 * The vendored protoc-gen-validate is older than the Envoy API beside it: StringRules lacks
 * `ignore_empty = 26`, which envoy/config/core/v3/protocol.proto uses, so the set does not
 * compile. We add that one field exactly as upstream PGV defines it (validate.proto, v0.6.2+);
 * Legate never evaluates PGV rules (valibot validates), the annotations only have to parse.
 */
const PATCHES: Record<string, { after: string; insert: string }> = {
  "validate/validate.proto": {
    after: "  optional bool strict = 25 [default = true];\n",
    insert:
      "\n  // Legate patch (scripts/proto_sync.ts): upstream protoc-gen-validate field, missing from the\n" +
      "  // copy vendored by @grpc/grpc-js-xds. IgnoreEmpty specifies that the validation rules of\n" +
      "  // this field should be evaluated only if the field is not empty.\n" +
      "  optional bool ignore_empty = 26;\n",
  },
};

/** Files in proto/ that the sync does not own; it never deletes them. */
const KEEP = new Set(["buf.yaml", "buf.gen.yaml", "SOURCE.txt"]);

function locate(path: string): string {
  for (const inc of INCLUDE) {
    const p = join(inc, path);
    if (existsSync(p)) return p;
  }
  throw new Error(`proto_sync: import "${path}" not found under ${relative(root, depsDir)}`);
}

/** Returns import path → file contents for the transitive closure of ROOTS (sorted keys). */
export function closure(): Map<string, string> {
  if (!existsSync(depsDir)) throw new Error(`proto_sync: ${PKG} is not installed (npm ci)`);
  const out = new Map<string, string>();
  const queue = [...ROOTS];
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (out.has(path) || path.startsWith("google/protobuf/")) continue;
    // Some vendored files have CRLF line ends; store LF so diffs and generated comments are clean.
    let text = readFileSync(locate(path), "utf8").replaceAll("\r\n", "\n");
    const patch = PATCHES[path];
    if (patch) {
      if (!text.includes(patch.after)) throw new Error(`proto_sync: patch anchor not found in ${path}`);
      if (/\bignore_empty\s*=\s*26\b/.test(text)) throw new Error(`proto_sync: ${path} already has the patched field; drop the patch`);
      text = text.replace(patch.after, patch.after + patch.insert);
    }
    out.set(path, text);
    for (const m of text.matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)) queue.push(m[1]!);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sourceNote(files: Map<string, string>): string {
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version as string;
  return (
    `Generated by scripts/proto_sync.ts; do not edit the .proto files by hand.\n` +
    `Source: npm ${PKG}@${version}, deps/{${INCLUDE.map((i) => relative(depsDir, i)).join(",")}}\n` +
    `(Envoy API, googleapis, protoc-gen-validate, cncf/xds; all Apache-2.0).\n` +
    `Patched: ${Object.keys(PATCHES).join(", ")} (StringRules.ignore_empty = 26, see the script).\n` +
    `Files: ${files.size}\n`
  );
}

function listProtos(dir: string, rel: string[] = [], acc: string[] = []): string[] {
  if (!existsSync(dir)) return acc;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listProtos(p, [...rel, name], acc);
    else if (name.endsWith(".proto")) acc.push([...rel, name].join("/"));
  }
  return acc;
}

/** Returns human-readable differences between proto/ and a fresh sync (empty when in sync). */
export function diff(protoDir = join(root, "proto")): string[] {
  const want = closure();
  const problems: string[] = [];
  const have = new Set(listProtos(protoDir));
  for (const [path, text] of want) {
    if (!have.has(path)) problems.push(`missing: proto/${path}`);
    else if (readFileSync(join(protoDir, path), "utf8") !== text) problems.push(`differs: proto/${path}`);
  }
  for (const path of have) if (!want.has(path)) problems.push(`extra: proto/${path}`);
  const note = join(protoDir, "SOURCE.txt");
  if (!existsSync(note) || readFileSync(note, "utf8") !== sourceNote(want)) problems.push("differs: proto/SOURCE.txt");
  return problems;
}

function sync(protoDir = join(root, "proto")): number {
  const files = closure();
  mkdirSync(protoDir, { recursive: true });
  for (const name of readdirSync(protoDir)) {
    if (!KEEP.has(name)) rmSync(join(protoDir, name), { recursive: true, force: true });
  }
  for (const [path, text] of files) {
    const dest = join(protoDir, ...path.split("/"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, text);
  }
  writeFileSync(join(protoDir, "SOURCE.txt"), sourceNote(files));
  return files.size;
}

if (import.meta.main) {
  if (process.argv.includes("--check")) {
    const problems = diff();
    for (const p of problems) console.log(p);
    if (problems.length > 0) {
      console.error(`proto_sync: proto/ is out of date (${problems.length}); run make proto`);
      process.exit(1);
    }
    console.log("proto_sync: proto/ is in sync");
  } else {
    const n = sync();
    console.log(`proto_sync: ${n} files in ${relative(root, join(root, "proto")).split(sep).join("/")}/`);
  }
}
