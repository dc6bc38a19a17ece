/**
 * The ParseContext implementation (control side): collects issues at absolute paths and resolves
 * nested typed_configs through the extension registry.
 */
import type { ConfigIssue } from "../core/errors.ts";
import { type ExtensionCategory, findByTypeUrl, type ParseContext, type TypedConfigResult } from "../registry/registry.ts";
import { describe, isMapping, joinPath } from "./schema.ts";

const CATEGORY_NAMES: Record<ExtensionCategory, string> = {
  network_filter: "a network filter",
  http_filter: "an HTTP filter",
  access_logger: "an access logger",
  listener_filter: "a listener filter",
};

/** Control side: a root ParseContext that appends its issues to `issues`. */
export function createParseContext(opts: {
  issues: ConfigIssue[];
  path?: string;
  clusterNames?: ReadonlySet<string> | undefined;
}): ParseContext {
  return new Context(opts.issues, opts.path ?? "", opts.clusterNames);
}

class Context implements ParseContext {
  constructor(
    private readonly issues: ConfigIssue[],
    readonly path: string,
    readonly clusterNames: ReadonlySet<string> | undefined,
  ) {}

  issue(relPath: string, message: string): void {
    this.issues.push({ path: joinPath(this.path, relPath), message });
  }

  child(relPath: string): ParseContext {
    return new Context(this.issues, joinPath(this.path, relPath), this.clusterNames);
  }

  parseTypedConfig(typedConfig: unknown, relPath: string, category: ExtensionCategory): TypedConfigResult | undefined {
    const ctx = this.child(relPath);
    if (typedConfig === undefined) {
      ctx.issue("", "is required");
      return undefined;
    }
    if (!isMapping(typedConfig)) {
      ctx.issue("", `expected a mapping with "@type", got ${describe(typedConfig)}`);
      return undefined;
    }
    const url = typedConfig["@type"];
    if (url === undefined) {
      ctx.issue("@type", "is required");
      return undefined;
    }
    if (typeof url !== "string") {
      ctx.issue("@type", `expected a string, got ${describe(url)}`);
      return undefined;
    }
    const extension = findByTypeUrl(url);
    if (!extension) {
      ctx.issue("@type", `unknown extension type ${JSON.stringify(url)}`);
      return undefined;
    }
    if (extension.category !== category) {
      ctx.issue("@type", `${JSON.stringify(url)} is ${CATEGORY_NAMES[extension.category]}, not ${CATEGORY_NAMES[category]}`);
      return undefined;
    }
    const { "@type": _, ...fields } = typedConfig;
    const before = this.issues.length;
    const config = extension.parseConfig(fields, ctx);
    if (config === undefined || this.issues.length > before) return undefined;
    return { extension, typeUrl: url, config };
  }
}
