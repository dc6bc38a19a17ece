/**
 * Control-side error types shared across the code base.
 */

/** One configuration problem: where it is (snake_case path with indices, "" for a whole-document
 *  problem such as a YAML syntax error) and what is wrong. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Formats one issue as the line a user sees: `path: message`, or just the message when the path
 *  is empty (such messages already start with `<source>:<line>:<col>:`). */
export function formatConfigIssue(issue: ConfigIssue): string {
  return issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`;
}

/** Control side: a rejected configuration, carrying every issue found (not just the first). */
export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map(formatConfigIssue).join("\n"));
    this.name = "ConfigError";
  }
}
