/**
 * Upstream TLS (a cluster's `transport_socket` envoy.transport_sockets.tls) between the config
 * model and the runtime seam.
 *
 * The config layer stays file-free: a certificate given as `filename` stays a file name in the
 * model, and `loadClusterTlsFiles` (control side, when the server applies a config) reads it
 * through the runtime and replaces it with its text. Snapshots therefore carry PEM text only,
 * and workers never touch files. A file that cannot be read fails the config load or reload,
 * as Envoy does; `--mode validate` needs no files (DESIGN.md §5.2).
 */
import type { ClusterModel, PemSourceModel, UpstreamTlsModel } from "../config/model.ts";
import type { Counter, StatsStore } from "../core/stats.ts";
import type { Runtime, TlsConnectOptions } from "../runtime/types.ts";

/** Control side: reads every TLS `filename` of `clusters` through the runtime; returns models
 *  whose PEM sources are all inline (clusters without files are returned as they are). Throws
 *  an Error naming the cluster and field when a file cannot be read. */
export async function loadClusterTlsFiles(runtime: Runtime, clusters: readonly ClusterModel[]): Promise<ClusterModel[]> {
  return await Promise.all(clusters.map(async (c): Promise<ClusterModel> => {
    const t = c.tls;
    if (t === undefined) return c;
    const bad = runtime.checkTlsParams(t.cipherSuites, t.ecdhCurves);
    if (bad) throw new Error(`cluster '${c.name}': transport_socket.typed_config.common_tls_context.tls_params${bad.path ? "." + bad.path : ""}: ${bad.message}`);
    if (!hasFile(t)) return c;
    const read = async (src: PemSourceModel, field: string): Promise<PemSourceModel> => {
      if (!("filename" in src)) return src;
      try {
        return { inline: await runtime.readTextFile(src.filename) };
      } catch (e) {
        const why = (e as { code?: string; message?: string })?.code ?? (e as Error)?.message ?? String(e);
        throw new Error(`cluster '${c.name}': transport_socket.typed_config.common_tls_context.${field}: cannot read '${src.filename}': ${why}`);
      }
    };
    const cc = t.clientCertificate;
    const tls: UpstreamTlsModel = {
      ...t,
      trustedCa: t.trustedCa && await read(t.trustedCa, "validation_context.trusted_ca.filename"),
      clientCertificate: cc && {
        certificateChain: await read(cc.certificateChain, "tls_certificates[0].certificate_chain.filename"),
        privateKey: await read(cc.privateKey, "tls_certificates[0].private_key.filename"),
      },
    };
    return { ...c, tls };
  }));
}

function hasFile(t: UpstreamTlsModel): boolean {
  const cc = t.clientCertificate;
  return [t.trustedCa, cc?.certificateChain, cc?.privateKey].some((s) => s !== undefined && "filename" in s);
}

function pem(src: PemSourceModel | undefined, cluster: string, field: string): string | undefined {
  if (src === undefined) return undefined;
  if ("inline" in src) return src.inline;
  // Only reachable when a model bypassed loadClusterTlsFiles (an embedding caller).
  throw new Error(`cluster '${cluster}': ${field} file '${src.filename}' was not loaded (loadClusterTlsFiles)`);
}

/** Worker side: the runtime's TLS options for one cluster, built once per cluster and shared by
 *  its connections; counts `cluster.<name>.ssl.handshake` and `ssl.connection_error`. */
export function tlsConnectOptions(cluster: string, t: UpstreamTlsModel, store: StatsStore): TlsConnectOptions {
  const handshake: Counter = store.counter(`cluster.${cluster}.ssl.handshake`);
  const connectionError: Counter = store.counter(`cluster.${cluster}.ssl.connection_error`);
  const opts: TlsConnectOptions = {
    // Envoy verifies the server certificate only when a trusted CA is configured, and then the
    // chain only (names are checked only with match_*_subject_alt_names, not supported yet).
    rejectUnauthorized: t.trustedCa !== undefined,
    onHandshake: (ok) => (ok ? handshake : connectionError).inc(),
  };
  if (t.sni !== "") opts.serverName = t.sni;
  const ca = pem(t.trustedCa, cluster, "trusted_ca");
  if (ca !== undefined) opts.ca = ca;
  if (t.clientCertificate) {
    opts.cert = pem(t.clientCertificate.certificateChain, cluster, "certificate_chain");
    opts.key = pem(t.clientCertificate.privateKey, cluster, "private_key");
  }
  if (t.alpn.length > 0) opts.alpn = [...t.alpn];
  if (t.minVersion !== undefined) opts.minVersion = t.minVersion;
  if (t.maxVersion !== undefined) opts.maxVersion = t.maxVersion;
  if (t.cipherSuites.length > 0) opts.cipherSuites = t.cipherSuites;
  if (t.ecdhCurves.length > 0) opts.ecdhCurves = t.ecdhCurves;
  return Object.freeze(opts);
}
