/**
 * Reads the config sources the CLI names (control side): the file through the runtime, then
 * the --config-yaml overlay, through the one validation path (loadBootstrap).
 */
import type { BootstrapModel } from "./model.ts";
import { loadBootstrap, mergeConfig, parseConfigText } from "./load.ts";
import type { Runtime } from "../runtime/types.ts";
import { RuntimeError } from "../runtime/types.ts";

/** A validated bootstrap plus the raw (merged) config for /config_dump. */
export interface LoadedConfig {
  readonly bootstrap: BootstrapModel;
  readonly raw: unknown;
}

/** Loads `path` (if any) and `overlayYaml` (if any); throws ConfigError or a file Error. */
export async function loadConfigFromSources(
  runtime: Runtime,
  path: string | undefined,
  overlayYaml: string | undefined,
): Promise<LoadedConfig> {
  let text: string | undefined;
  if (path !== undefined) {
    try {
      text = await runtime.readTextFile(path);
    } catch (e) {
      const why = e instanceof RuntimeError ? e.code : e instanceof Error ? e.message : String(e);
      throw new Error(`cannot read config file '${path}': ${why}`);
    }
  }
  const bootstrap = loadBootstrap({ text, sourceName: path, overlayYaml });
  // Both parses succeeded inside loadBootstrap, so these cannot throw now.
  const base = text !== undefined ? parseConfigText(text, path ?? "config") : {};
  const raw = overlayYaml !== undefined && overlayYaml.trim() !== "" ? mergeConfig(base, parseConfigText(overlayYaml, "--config-yaml")) : base;
  return { bootstrap, raw };
}
