/**
 * Test helper: files written in batches (access logs) — wait until one has content.
 */
import { readFileSync } from "node:fs";
import { waitFor } from "../harness.ts";

/** The file's text, or "" while it does not exist yet. */
export function readIfPresent(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Waits (bounded) until `path` exists with text satisfying `pred` (default: non-empty). */
export function waitForFile(path: string, what: string, pred: (text: string) => boolean = (t) => t !== ""): Promise<string> {
  return waitFor(() => {
    const t = readIfPresent(path);
    return pred(t) ? t : "";
  }, what);
}
