/**
 * Snapshot files for the xDS management server: one YAML/JSON file, or a directory of them (one
 * file per version; the file whose name sorts last, numbers compared as numbers, is served).
 * A file holds `{version, resources: {listeners, routes, clusters, endpoints}}` in Envoy's proto3
 * JSON/YAML; without `version` the file name (minus extension) is the version.
 *
 * Watching polls (stat every `pollMs`, 200 ms by default): a change of the chosen file's name,
 * inode, size or mtime reloads it. Replace files by atomic rename (write `x.tmp`, `mv x.tmp
 * x.yaml`): names starting with "." and ending in anything but .yaml/.yml/.json are ignored, and a
 * file that does not parse or convert is reported and skipped, the last good snapshot keeps
 * being served.
 */
import { parse as parseYaml } from "yaml";
import { listDirectory, readTextFile, statPath } from "../../runtime/http_json.ts";
import { type SnapshotInput, snapshotInputFromDocument } from "./snapshot.ts";

const SNAPSHOT_FILE = /^[^.].*\.(ya?ml|json)$/;

/** The file `path` stands for: itself, or the last snapshot file of a directory. */
export async function resolveSnapshotFile(path: string): Promise<string> {
  const st = await statPath(path);
  if (!st) throw new Error(`snapshot path '${path}' does not exist`);
  if (!st.isDirectory) return path;
  const names = (await listDirectory(path)).filter((n) => SNAPSHOT_FILE.test(n));
  if (names.length === 0) throw new Error(`snapshot directory '${path}' has no .yaml, .yml or .json file`);
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  return `${path.replace(/\/+$/, "")}/${names[names.length - 1]}`;
}

/** Reads and parses one snapshot file (throws with the file name on any problem). */
export async function readSnapshotFile(file: string): Promise<SnapshotInput> {
  const text = await readTextFile(file);
  let doc: unknown;
  try {
    doc = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : e}`);
  }
  const base = file.slice(file.lastIndexOf("/") + 1).replace(/\.(ya?ml|json)$/, "");
  try {
    return snapshotInputFromDocument(doc, base);
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : e}`);
  }
}

/** A running watch. */
export interface SnapshotWatch {
  stop(): void;
}

/**
 * Loads `path` now (rejects if that fails) and then every time it changes, calling `apply` with
 * each new input (`apply` may throw: the error goes to `onError`, and the same file contents are
 * not retried until they change).
 */
export async function watchSnapshotPath(opts: {
  path: string;
  pollMs?: number;
  apply: (input: SnapshotInput, file: string) => void;
  onError: (err: Error) => void;
}): Promise<SnapshotWatch> {
  let lastSig = "";
  const load = async (): Promise<void> => {
    const file = await resolveSnapshotFile(opts.path);
    const st = await statPath(file);
    if (!st) throw new Error(`snapshot file '${file}' disappeared`);
    const sig = `${file}|${st.ino}|${st.size}|${st.mtimeMs}`;
    if (sig === lastSig) return;
    lastSig = sig;
    opts.apply(await readSnapshotFile(file), file);
  };
  await load();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastError = "";
  const tick = (): void => {
    timer = setTimeout(() => {
      load().then(
        () => {
          lastError = "";
        },
        (e: unknown) => {
          const err = e instanceof Error ? e : new Error(String(e));
          if (err.message !== lastError) opts.onError(err);
          lastError = err.message;
        },
      ).finally(() => {
        if (!stopped) tick();
      });
    }, opts.pollMs ?? 200);
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
