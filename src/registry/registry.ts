/**
 * The extension registry (control side): config extensions by name and by typed_config `@type`
 * URL (DESIGN rule 1). The config layer finds an extension by the `@type` of a typed_config and
 * calls its `parseConfig` to get the extension's own validated, frozen model.
 */

/** Where an extension may be used. */
export type ExtensionCategory = "network_filter" | "http_filter" | "access_logger" | "listener_filter";

/** A typed_config resolved through the registry: the extension, the `@type` URL and its model. */
export interface TypedConfigResult {
  readonly extension: ConfigExtension<unknown>;
  readonly typeUrl: string;
  readonly config: unknown;
}

/** Control side: what an extension's parseConfig gets to report issues and recurse. Paths given to
 *  it are relative to the config being parsed (`route_config.virtual_hosts[0].domains`). */
export interface ParseContext {
  /** Absolute path of the value being parsed (snake_case, with indices). */
  readonly path: string;
  /** Names of the static clusters a route may name, or undefined when routes are not checked
   *  against clusters (e.g. a resource validated on its own). */
  readonly clusterNames: ReadonlySet<string> | undefined;
  /** Reports a problem at `relPath` ("" for the value itself). */
  issue(relPath: string, message: string): void;
  /** A context for a nested value at `relPath`. */
  child(relPath: string): ParseContext;
  /** Resolves a nested typed_config (`{"@type": url, ...}`) at `relPath` with the registered
   *  extension of `category`; undefined when anything was wrong (the issues are reported). */
  parseTypedConfig(typedConfig: unknown, relPath: string, category: ExtensionCategory): TypedConfigResult | undefined;
}

/** Control side: a config extension, registered by name and by one or more `@type` URLs. */
export interface ConfigExtension<TModel> {
  /** Envoy's extension name, e.g. `envoy.filters.http.router`. */
  readonly name: string;
  /** `type.googleapis.com/...` URLs of the config messages this extension accepts. */
  readonly typeUrls: readonly string[];
  readonly category: ExtensionCategory;
  /** True for a filter that must end its chain (Envoy's terminal filters: HCM, tcp_proxy, router). */
  readonly terminal?: boolean;
  /** Validates the typed_config (without `@type`, keys already snake_case) and returns the frozen
   *  model; returns undefined only after reporting at least one issue on `ctx`. */
  parseConfig(json: unknown, ctx: ParseContext): TModel | undefined;
  // [router] per-route config of an HTTP filter (typed_per_filter_config)
  /** `@type` URLs of the filter's per-route config messages (may repeat a `typeUrls` entry). */
  readonly perRouteTypeUrls?: readonly string[];
  /** Validates a per-route config (without `@type`) into its frozen model, like parseConfig. */
  parsePerRouteConfig?(json: unknown, ctx: ParseContext, typeUrl: string): unknown | undefined;
  // [/router]
}

const byName = new Map<string, ConfigExtension<unknown>>();
const byTypeUrl = new Map<string, ConfigExtension<unknown>>();
const byPerRouteTypeUrl = new Map<string, ConfigExtension<unknown>>(); // [router]

/** Control side: registers an extension; throws when its name or a type URL is already taken. */
export function registerConfigExtension<TModel>(ext: ConfigExtension<TModel>): void {
  if (byName.has(ext.name)) throw new Error(`config extension ${ext.name} is already registered`);
  for (const url of ext.typeUrls) {
    const other = byTypeUrl.get(url);
    if (other) throw new Error(`type URL ${url} is already registered by ${other.name}`);
  }
  byName.set(ext.name, ext);
  for (const url of ext.typeUrls) byTypeUrl.set(url, ext);
  for (const url of ext.perRouteTypeUrls ?? []) byPerRouteTypeUrl.set(url, ext as ConfigExtension<unknown>); // [router]
}

/** Control side: the HTTP filter whose per-route config has `@type` `url` (typed_per_filter_config). */
export function findByPerRouteTypeUrl(url: string): ConfigExtension<unknown> | undefined {
  return byPerRouteTypeUrl.get(url);
}

/** Control side: the extension registered for a typed_config `@type` URL. */
export function findByTypeUrl(url: string): ConfigExtension<unknown> | undefined {
  return byTypeUrl.get(url);
}

/** Control side: the extension registered under an Envoy extension name. */
export function findByName(name: string): ConfigExtension<unknown> | undefined {
  return byName.get(name);
}

/** Control side: every registered extension, in registration order. */
export function listConfigExtensions(): readonly ConfigExtension<unknown>[] {
  return [...byName.values()];
}
