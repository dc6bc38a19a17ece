/**
 * Downstream TLS files and SDS from a file (control side).
 *
 * The config layer keeps file names; `ListenerTlsFiles.load` reads every certificate, key and
 * CA file of the listeners' DownstreamTlsContexts and every SDS file
 * (`tls_certificate_sds_secret_configs[].sds_config.path_config_source`), checks the PEM by
 * building a runtime TLS context, and returns listeners whose PEM sources are all inline, so
 * snapshots carry text and workers never touch files. A file that cannot be read or parsed
 * rejects the load (startup fails, a reload is refused: the running config keeps serving).
 *
 * Static listeners are loaded together (`load`: one bad file refuses the config); LDS listeners
 * one by one (`loadEach`: a bad one is left out, the others go on).
 *
 * SDS rotation: the SDS files (and the files their Secrets name) are polled; when one changes,
 * everything is loaded again and handed to `onUpdate` (the server publishes a new snapshot
 * version: new connections get the new certificate). A file that turns to garbage is logged,
 * counted (`sds.<secret>.update_rejected`) and the old certificate keeps serving.
 */
import { createParseContext } from "../config/context.ts";
import { tlsCertificateSchema } from "../config/cluster.ts";
import { normalizeKeys } from "../config/keys.ts";
import { parseConfigText } from "../config/load.ts";
import type { DownstreamTlsModel, FilterChainModel, ListenerModel, PemSourceModel, SdsSecretRefModel, TlsCertificateModel } from "../config/model.ts";
import { isMapping, parseWith } from "../config/schema.ts";
import type { ConfigIssue } from "../core/errors.ts";
import { Logger } from "../core/log.ts";
import type { StatsStore } from "../core/stats.ts";
import type { Runtime } from "../runtime/types.ts";
import { tlsServerOptions } from "./downstream_tls.ts";

const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const log = new Logger("secret");

/** How often SDS files are checked for changes (ms). */
export const SDS_POLL_MS = 500;

function why(e: unknown): string {
  return (e as { code?: string })?.code ?? (e as Error)?.message ?? String(e);
}

/** Reads files for one load; remembers every file's text (for change detection). */
class Reader {
  readonly seen = new Map<string, string>();
  constructor(private readonly runtime: Runtime) {}
  async text(path: string, what: string): Promise<string> {
    let t: string;
    try {
      t = await this.runtime.readTextFile(path);
    } catch (e) {
      throw new Error(`${what}: cannot read '${path}': ${why(e)}`);
    }
    this.seen.set(path, t);
    return t;
  }
  async pem(src: PemSourceModel, what: string): Promise<PemSourceModel> {
    return "filename" in src ? { inline: await this.text(src.filename, `${what}.filename`) } : src;
  }
  async cert(c: TlsCertificateModel, what: string): Promise<TlsCertificateModel> {
    return {
      certificateChain: await this.pem(c.certificateChain, `${what}.certificate_chain`),
      privateKey: await this.pem(c.privateKey, `${what}.private_key`),
    };
  }
}

/** Control side: the TlsCertificate of Secret `name` in an SDS file's text (a DiscoveryResponse,
 *  YAML or JSON). Throws naming the file and what is wrong. */
export function secretFromText(text: string, name: string, path: string): TlsCertificateModel {
  const issues: ConfigIssue[] = [];
  let doc: unknown;
  try {
    doc = normalizeKeys(parseConfigText(text, path), issues);
  } catch (e) {
    throw new Error(`SDS file '${path}': ${(e as Error).message}`);
  }
  const resources = isMapping(doc) && Array.isArray(doc.resources) ? doc.resources : undefined;
  if (resources === undefined) throw new Error(`SDS file '${path}': expected a DiscoveryResponse with "resources"`);
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i];
    if (!isMapping(r) || r.name !== name) continue;
    if (r["@type"] !== undefined && r["@type"] !== SECRET_TYPE) {
      throw new Error(`SDS file '${path}': resources[${i}].@type: expected ${SECRET_TYPE}`);
    }
    if (!isMapping(r.tls_certificate)) throw new Error(`SDS file '${path}': resources[${i}].tls_certificate: is required (only TLS certificate secrets are supported)`);
    const ctx = createParseContext({ issues, path: `resources[${i}].tls_certificate` });
    const c = parseWith(ctx, tlsCertificateSchema, r.tls_certificate);
    if (!c || issues.length) throw new Error(`SDS file '${path}': ${issues.map((x) => `${x.path}: ${x.message}`).join("; ")}`);
    return { certificateChain: c.certificate_chain, privateKey: c.private_key };
  }
  throw new Error(`SDS file '${path}': no Secret named '${name}'`);
}

/** Loads one DownstreamTlsContext's files; `where` names it in errors. */
async function loadContext(runtime: Runtime, r: Reader, t: DownstreamTlsModel, where: string): Promise<DownstreamTlsModel> {
  const base = `${where}.transport_socket.typed_config.common_tls_context`;
  const certificates = await Promise.all(t.certificates.map((c, i) => r.cert(c, `${base}.tls_certificates[${i}]`)));
  const sdsCertificates = await Promise.all(t.sdsCertificates.map(async (s, i): Promise<SdsSecretRefModel> => {
    const what = `${base}.tls_certificate_sds_secret_configs[${i}]`;
    const secret = secretFromText(await r.text(s.path, `${what}.sds_config.path_config_source.path`), s.name, s.path);
    return { name: s.name, path: s.path, certificate: await r.cert(secret, `${what} (secret '${s.name}')`) };
  }));
  const trustedCa = t.trustedCa && await r.pem(t.trustedCa, `${base}.validation_context.trusted_ca`);
  const loaded: DownstreamTlsModel = { ...t, certificates, sdsCertificates, trustedCa };
  const bad = runtime.checkTlsParams(t.cipherSuites, t.ecdhCurves);
  if (bad) throw new Error(`${base}.tls_params${bad.path ? "." + bad.path : ""}: ${bad.message}`);
  // Check the PEM now (a worker would fail to build the chain otherwise).
  tlsServerOptions(loaded).forEach((o, i) => {
    try {
      runtime.createTlsServerContext(o);
    } catch (e) {
      const n = t.certificates.length;
      const which = i < n ? `tls_certificates[${i}]` : `tls_certificate_sds_secret_configs[${i - n}] (secret '${t.sdsCertificates[i - n]!.name}')`;
      throw new Error(`${base}.${which}: ${(e as Error).message}`);
    }
  });
  return loaded;
}

/** Control side: the listeners with every downstream TLS file and SDS secret read (PEM inline). */
export async function loadListenerTlsFiles(runtime: Runtime, listeners: readonly ListenerModel[]): Promise<{ listeners: ListenerModel[]; files: Map<string, string> }> {
  const r = new Reader(runtime);
  const chain = async (c: FilterChainModel, where: string): Promise<FilterChainModel> =>
    c.tls === undefined ? c : { ...c, tls: await loadContext(runtime, r, c.tls, where) };
  const out = await Promise.all(listeners.map(async (l): Promise<ListenerModel> => {
    const hasTls = l.filterChains.some((c) => c.tls !== undefined) || l.defaultFilterChain?.tls !== undefined;
    if (!hasTls) return l;
    const at = `listener '${l.name}'`;
    const filterChains = await Promise.all(l.filterChains.map((c, j) => chain(c, `${at}: filter_chains[${j}]`)));
    const defaultFilterChain = l.defaultFilterChain && await chain(l.defaultFilterChain, `${at}: default_filter_chain`);
    return { ...l, filterChains, ...(defaultFilterChain ? { defaultFilterChain } : {}) };
  }));
  return { listeners: out, files: r.seen };
}

/** SDS file paths and secret names of some listeners. */
function sdsRefs(listeners: readonly ListenerModel[]): SdsSecretRefModel[] {
  const out: SdsSecretRefModel[] = [];
  for (const l of listeners) {
    for (const c of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) out.push(...(c.tls?.sdsCertificates ?? []));
  }
  return out;
}

/** Control side: loads listeners' TLS files and watches their SDS files (server.ts owns one). */
export class ListenerTlsFiles {
  #listeners: readonly ListenerModel[] = [];
  #files = new Map<string, string>();
  #timer: ReturnType<typeof setInterval> | undefined = undefined;
  #polling = false;
  /** Text of a changed file that failed to load (logged once, not every poll). */
  #rejected = new Map<string, string>();
  onUpdate: ((listeners: ListenerModel[]) => void) | undefined = undefined;

  constructor(private readonly runtime: Runtime, private readonly stats: StatsStore, private readonly pollMs = SDS_POLL_MS) {}

  /** Reads everything for `listeners` (throws when anything is missing or bad; then nothing
   *  changes) and watches their SDS files from now on. */
  async load(listeners: readonly ListenerModel[]): Promise<ListenerModel[]> {
    const { listeners: out, files } = await loadListenerTlsFiles(this.runtime, listeners);
    this.#watch(listeners, files);
    return out;
  }

  /**
   * Like `load`, but each listener on its own (LDS: one bad listener must not hold back the
   * others): a listener whose files cannot be read or parsed is left out and its error returned
   * by name; the others are returned loaded (in order) and watched from now on.
   */
  async loadEach(listeners: readonly ListenerModel[]): Promise<{ listeners: ListenerModel[]; errors: Map<string, string> }> {
    const results = await Promise.all(listeners.map(async (l) => {
      try {
        return { l, r: await loadListenerTlsFiles(this.runtime, [l]) };
      } catch (e) {
        return { l, error: (e as Error).message };
      }
    }));
    const good: ListenerModel[] = [];
    const out: ListenerModel[] = [];
    const files = new Map<string, string>();
    const errors = new Map<string, string>();
    for (const x of results) {
      if (x.r === undefined) {
        errors.set(x.l.name, x.error!);
        continue;
      }
      good.push(x.l);
      out.push(x.r.listeners[0]!);
      for (const [path, text] of x.r.files) files.set(path, text);
    }
    this.#watch(good, files);
    return { listeners: out, errors };
  }

  /** Watches the SDS files of `listeners` (read as `files`) from now on. */
  #watch(listeners: readonly ListenerModel[], files: Map<string, string>): void {
    this.#listeners = listeners;
    this.#files = files;
    this.#rejected.clear();
    const refs = sdsRefs(listeners);
    for (const s of refs) this.stats.counter(`sds.${s.name}.update_success`).inc();
    if (refs.length > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => void this.#poll(), this.pollMs);
      (this.#timer as { unref?: () => void }).unref?.();
    } else if (refs.length === 0) this.close();
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      let changed = false;
      for (const [path, text] of this.#files) {
        let now: string;
        try {
          now = await this.runtime.readTextFile(path);
        } catch {
          // Being replaced (rename in progress) or gone: keep serving; check again next time.
          continue;
        }
        if (now !== text && this.#rejected.get(path) !== now) changed = true;
      }
      if (!changed) return;
      const listeners = this.#listeners;
      const refs = sdsRefs(listeners);
      try {
        const { listeners: out, files } = await loadListenerTlsFiles(this.runtime, listeners);
        if (listeners !== this.#listeners) return; // a reload came in meanwhile
        this.#files = files;
        this.#rejected.clear();
        for (const s of refs) this.stats.counter(`sds.${s.name}.update_success`).inc();
        log.info(`SDS: certificates reloaded from ${[...new Set(refs.map((s) => s.path))].join(", ")}`);
        this.onUpdate?.(out);
      } catch (e) {
        for (const [path] of this.#files) {
          try {
            this.#rejected.set(path, await this.runtime.readTextFile(path));
          } catch {
            // ignore
          }
        }
        for (const s of refs) this.stats.counter(`sds.${s.name}.update_rejected`).inc();
        log.error(`SDS update rejected; the current certificates keep serving: ${(e as Error).message}`);
      }
    } finally {
      this.#polling = false;
    }
  }

  /** Stops watching. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
