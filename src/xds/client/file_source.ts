/**
 * xDS from a file (`path_config_source`, control side): the file holds a DiscoveryResponse in
 * YAML or JSON (`version_info`, `resources: [{"@type": …, …}]`). It is re-read when it changes
 * and applied as a SotW response of its type; a file that does not parse (half written, broken)
 * is rejected and the resources in force stay. Writers should replace the file by an atomic
 * rename, as Envoy asks.
 */
import { Logger } from "../../core/log.ts";
import { parseConfigText } from "../../config/load.ts";
import { isMapping } from "../../config/schema.ts";
import type { Runtime } from "../../runtime/types.ts";
import { parseJsonResource, type ResourceKind } from "./resources.ts";
import type { XdsWatcher } from "./watcher.ts";

const log = new Logger("config");
/** How often the file is checked (a read of a small file; Envoy uses inotify). */
const POLL_MS = 250;

/** Watches one file holding resources of one type (control side). */
export class FileSource {
  #last: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #first = true;

  constructor(readonly runtime: Runtime, readonly path: string, readonly kind: ResourceKind, readonly watcher: XdsWatcher) {}

  start(): void {
    void this.#check();
  }

  /** Names changed: the file holds what it holds; re-apply it so new names are seen. */
  updateInterest(): void {
    this.#last = null;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #check(): Promise<void> {
    let text: string | null = null;
    try {
      text = await this.runtime.readTextFile(this.path);
    } catch (e) {
      if (this.#first) log.warn(`xDS file ${this.path}: cannot read it (${e instanceof Error ? e.message : String(e)}); waiting for it`);
      if (this.#first) this.watcher.onStreamFailure();
    }
    this.#first = false;
    if (this.#closed) return;
    if (text !== null && text !== this.#last) {
      this.#last = text;
      this.#apply(text);
    }
    this.#timer = setTimeout(() => void this.#check(), POLL_MS);
  }

  #apply(text: string): void {
    let doc: unknown;
    try {
      doc = parseConfigText(text, this.path);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      log.warn(`xDS file ${this.path} rejected: ${why}`);
      this.watcher.onSotw(this.kind, [{ name: "", version: "", raw: undefined, error: why }], "");
      return;
    }
    const version = isMapping(doc) ? String(doc.version_info ?? doc.versionInfo ?? "") : "";
    const list = isMapping(doc) && Array.isArray(doc.resources) ? doc.resources : null;
    if (list === null) {
      this.watcher.onSotw(this.kind, [{ name: "", version, raw: doc, error: `${this.path}: expected a DiscoveryResponse with a "resources" list` }], version);
      return;
    }
    const decoded = list.map((r) => parseJsonResource(this.kind, r, version));
    this.watcher.onConnectionState(true);
    const error = this.watcher.onSotw(this.kind, decoded, version);
    if (error !== null) log.warn(`xDS file ${this.path} (version ${JSON.stringify(version)}) rejected: ${error}`);
  }
}
