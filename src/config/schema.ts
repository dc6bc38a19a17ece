/**
 * Valibot building blocks for Envoy v3 messages (control side): strict messages that name unknown
 * and not-yet-supported fields, proto3 JSON scalars (durations, wrappers, enums), and the runner
 * that turns valibot issues into `path: message` lines on a ParseContext.
 *
 * Inputs have already been through `normalizeKeys` (snake_case keys, nulls dropped), so the
 * schemas only name snake_case fields, exactly as Envoy's .proto files spell them.
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";

/** Control side: the result of a leaf conversion that failed; carries the message for the path. */
export class Problem {
  constructor(readonly message: string) {}
}

/** Control side: true for a plain mapping (not a list, not null). */
export function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Control side: describes a value's kind for messages ("a string", "a list", ...). */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "nothing";
  if (Array.isArray(x)) return "a list";
  if (typeof x === "object") return "a mapping";
  if (typeof x === "string") return `the string ${JSON.stringify(x)}`;
  if (typeof x === "number") return `the number ${x}`;
  if (typeof x === "boolean") return `${x}`;
  return typeof x;
}

const EXPECTS: Record<string, string> = {
  Object: "a mapping",
  Array: "a list",
  string: "a string",
  number: "a number",
  boolean: "a boolean",
};

/** Fallback messages for valibot's built-in issues (type errors and missing keys). */
function fallbackMessage(issue: v.BaseIssue<unknown>): string {
  const last = issue.path?.[issue.path.length - 1];
  if (issue.kind === "schema" && issue.input === undefined && last?.origin === "key") return "is required";
  if (issue.kind === "schema") {
    return `expected ${EXPECTS[issue.expected ?? ""] ?? issue.expected ?? "something else"}, got ${describe(issue.input)}`;
  }
  return issue.message;
}

const PARSE_CONFIG: v.Config<v.BaseIssue<unknown>> = { abortEarly: false, abortPipeEarly: false, message: fallbackMessage };

/** Control side: renders a valibot issue path as `a.b[0].c`. */
export function issuePath(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Control side: joins a base path and a relative one (`a.b` + `c[0]` → `a.b.c[0]`, `a` + `[1]` → `a[1]`). */
export function joinPath(base: string, rel: string): string {
  if (rel === "") return base;
  if (base === "") return rel;
  return rel.startsWith("[") ? base + rel : `${base}.${rel}`;
}

/** Control side: runs a schema on `input`, reports every issue on `ctx` (relative to `relPath`),
 *  and returns the output, or undefined when there was any issue. */
export function parseWith<S extends v.GenericSchema<unknown, unknown>>(
  ctx: ParseContext,
  schema: S,
  input: unknown,
  relPath = "",
): v.InferOutput<S> | undefined {
  const r = v.safeParse(schema, input, PARSE_CONFIG);
  if (r.issues) {
    for (const issue of r.issues) ctx.issue(joinPath(relPath, issuePath(issue)), issue.message);
    return undefined;
  }
  return r.output as v.InferOutput<S>;
}

/** Control side: a schema for a scalar, from a conversion that returns the value or a Problem. */
export function leaf<T>(convert: (input: unknown) => T | Problem): v.GenericSchema<unknown, T> {
  return v.pipe(
    v.unknown(),
    v.rawTransform<unknown, T>(({ dataset, addIssue, NEVER }) => {
      const r = convert(dataset.value);
      if (r instanceof Problem) {
        addIssue({ message: r.message });
        return NEVER;
      }
      return r;
    }),
  );
}

/** Control side: a string (proto3 JSON does not turn numbers into strings). */
export function str(opts: { nonEmpty?: boolean } = {}): v.GenericSchema<unknown, string> {
  return leaf((x) => {
    if (typeof x !== "string") return new Problem(`expected a string, got ${describe(x)}`);
    if (opts.nonEmpty && x === "") return new Problem("must not be empty");
    return x;
  });
}

/** Control side: a plain `bool`, or a `google.protobuf.BoolValue` (`true` or `{value: true}`) when `wrapper`. */
export function bool(opts: { wrapper?: boolean } = {}): v.GenericSchema<unknown, boolean> {
  return leaf((x) => {
    if (opts.wrapper && isMapping(x)) {
      const keys = Object.keys(x);
      if (keys.length === 1 && keys[0] === "value" && typeof x.value === "boolean") return x.value;
      return new Problem(`expected a boolean or {value: <boolean>}, got ${describe(x)}`);
    }
    if (typeof x !== "boolean") return new Problem(`expected a boolean, got ${describe(x)}`);
    return x;
  });
}

/** Control side: an unsigned 32-bit integer (number or decimal string, as proto3 JSON allows), or a
 *  `google.protobuf.UInt32Value` (`n` or `{value: n}`) when `wrapper`; checks `min`/`max`. */
export function uint32(opts: { min?: number; max?: number; wrapper?: boolean } = {}): v.GenericSchema<unknown, number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? 0xffff_ffff;
  return leaf((x) => {
    let n: unknown = x;
    if (opts.wrapper && isMapping(x)) {
      const keys = Object.keys(x);
      if (keys.length !== 1 || keys[0] !== "value") return new Problem(`expected an integer or {value: <integer>}, got ${describe(x)}`);
      n = x.value;
    }
    if (typeof n === "string" && /^\d+$/.test(n)) n = Number(n);
    if (typeof n !== "number" || !Number.isInteger(n)) return new Problem(`expected an integer, got ${describe(n)}`);
    if (n < min || n > max) {
      return new Problem(max === 0xffff_ffff ? `must be at least ${min}, got ${n}` : `must be between ${min} and ${max}, got ${n}`);
    }
    return n;
  });
}

const MAX_DURATION_SECONDS = 315_576_000_000;

/** Control side: converts a proto3 JSON Duration ("1.5s", "0.250s") or `{seconds, nanos}` to whole
 *  milliseconds (truncated, as Envoy's DurationUtil does), or returns a Problem. */
export function durationToMs(x: unknown): number | Problem {
  let seconds: number;
  let nanos: number;
  if (typeof x === "string") {
    const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(x);
    if (!m) return new Problem(`invalid duration ${JSON.stringify(x)}: expected seconds with an "s" suffix, such as "5s" or "0.250s"`);
    if (m[1] === "-") return new Problem(`must not be negative, got ${JSON.stringify(x)}`);
    seconds = Number(m[2]);
    nanos = m[3] ? Number(m[3].padEnd(9, "0")) : 0;
  } else if (isMapping(x)) {
    for (const k of Object.keys(x)) {
      if (k !== "seconds" && k !== "nanos") return new Problem(`invalid duration: unknown field "${k}" (expected seconds, nanos)`);
    }
    const s = typeof x.seconds === "string" && /^-?\d+$/.test(x.seconds) ? Number(x.seconds) : (x.seconds ?? 0);
    const n = x.nanos ?? 0;
    if (typeof s !== "number" || !Number.isInteger(s)) return new Problem(`invalid duration: seconds must be an integer, got ${describe(x.seconds)}`);
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 999_999_999) {
      return new Problem(`invalid duration: nanos must be an integer between 0 and 999999999, got ${describe(x.nanos)}`);
    }
    if (s < 0) return new Problem(`must not be negative, got ${s} seconds`);
    seconds = s;
    nanos = n;
  } else {
    return new Problem(`expected a duration such as "5s", got ${describe(x)}`);
  }
  if (seconds > MAX_DURATION_SECONDS) return new Problem(`duration is too long (at most ${MAX_DURATION_SECONDS} seconds)`);
  return seconds * 1000 + Math.floor(nanos / 1_000_000);
}

/** Control side: a `google.protobuf.Duration` in milliseconds; `positive` refuses zero (Envoy's `gt: {}`). */
export function duration(opts: { positive?: boolean } = {}): v.GenericSchema<unknown, number> {
  return leaf((x) => {
    const ms = durationToMs(x);
    if (ms instanceof Problem) return ms;
    if (opts.positive && ms === 0) return new Problem(`must be greater than 0, got ${JSON.stringify(x)}`);
    return ms;
  });
}

/** Control side: a proto enum given by name (case-insensitive, as Envoy parses YAML); names in
 *  `unsupported` are Envoy's but refused as "not supported yet". */
export function enumOf<const T extends string>(
  supported: readonly T[],
  unsupported: readonly string[] = [],
): v.GenericSchema<unknown, T> {
  return leaf((x) => {
    if (typeof x !== "string") return new Problem(`expected one of ${supported.join(", ")}, got ${describe(x)}`);
    const up = x.toUpperCase();
    if ((supported as readonly string[]).includes(up)) return up as T;
    if (unsupported.includes(up)) return new Problem(`${up} is not supported yet`);
    return new Problem(`unknown value ${JSON.stringify(x)} (accepted: ${supported.join(", ")})`);
  });
}

/** Options of `message()`. */
export interface MessageOptions {
  /** Envoy field names of this message that Legate refuses with "is not supported yet". */
  readonly unsupported?: readonly string[];
  /** Proto oneof groups: at most one member may be set; `required` also demands one. `members`
   *  lists every Envoy member (supported or not); `supported` names the ones to suggest. */
  readonly oneofs?: readonly { readonly members: readonly string[]; readonly supported: readonly string[]; readonly required?: boolean }[];
}

type AnyIssue = v.BaseIssue<unknown>;

function makeIssue(input: unknown, message: string, config: v.Config<AnyIssue>, path?: v.IssuePathItem[]): AnyIssue {
  return {
    kind: "schema",
    type: "object",
    input,
    expected: null,
    received: describe(input),
    message,
    requirement: undefined,
    path: path as AnyIssue["path"],
    issues: undefined,
    lang: config.lang,
    abortEarly: config.abortEarly,
    abortPipeEarly: config.abortPipeEarly,
  };
}

/** Control side: a strict Envoy message: the entries' fields, every other field refused with
 *  `unknown field "x"` (or, for Envoy fields we lack, `<field>: is not supported yet`), all
 *  reported at once, plus oneof checks. */
export function message<const E extends v.ObjectEntries>(entries: E, opts: MessageOptions = {}): v.ObjectSchema<E, undefined> {
  const base = v.object(entries);
  const unsupported = new Set(opts.unsupported ?? []);
  const run = base["~run"].bind(base);
  return {
    ...base,
    "~run"(dataset, config) {
      const input = dataset.value;
      if (!isMapping(input)) {
        const issue = makeIssue(input, `expected a mapping, got ${describe(input)}`, config);
        return { typed: false, value: input, issues: [issue] } as unknown as ReturnType<typeof run>;
      }
      const out = run(dataset, config);
      const extra: AnyIssue[] = [];
      for (const key of Object.keys(input)) {
        if (Object.prototype.hasOwnProperty.call(entries, key)) continue;
        if (unsupported.has(key)) {
          extra.push(makeIssue(input[key], "is not supported yet", config, [{ type: "object", origin: "value", input, key, value: input[key] }]));
        } else {
          extra.push(makeIssue(key, `unknown field ${JSON.stringify(key)}`, config));
        }
      }
      for (const oneof of opts.oneofs ?? []) {
        const present = oneof.members.filter((m) => input[m] !== undefined);
        if (present.length > 1) extra.push(makeIssue(input, `only one of ${present.join(", ")} may be set`, config));
        else if (present.length === 0 && oneof.required) {
          const names = oneof.supported;
          if (names.length === 1) {
            const key = names[0]!;
            extra.push(makeIssue(undefined, "is required", config, [{ type: "object", origin: "value", input, key, value: undefined }]));
          } else extra.push(makeIssue(input, `one of ${names.join(", ")} is required`, config));
        }
      }
      if (extra.length) {
        const o = out as { typed: boolean; issues?: AnyIssue[] };
        o.typed = false;
        o.issues = [...(o.issues ?? []), ...extra];
      }
      return out;
    },
  };
}

/** Control side: a repeated field of any items (each parsed later as its own unit). */
export const list: v.GenericSchema<unknown, unknown[]> = leaf((x) => Array.isArray(x) ? x : new Problem(`expected a list, got ${describe(x)}`));

/** Control side: any value, parsed later as its own unit (e.g. a typed_config). */
export const any: v.GenericSchema<unknown, unknown> = v.unknown();

/** Control side: a `config.core.v3.DataSource` read inline (`inline_string`, or `inline_bytes`
 *  holding base64 UTF-8 text); `filename` and `environment_variable` are not supported yet. */
export const inlineDataSource: v.GenericSchema<unknown, string> = v.pipe(
  message(
    { inline_string: v.optional(str()), inline_bytes: v.optional(str()) },
    {
      unsupported: ["filename", "environment_variable", "watched_directory"],
      oneofs: [{ members: ["filename", "inline_bytes", "inline_string", "environment_variable"], supported: ["inline_string", "inline_bytes"], required: true }],
    },
  ),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const d = dataset.value;
    if (d.inline_string !== undefined) return d.inline_string;
    const text = decodeBase64Utf8(d.inline_bytes ?? "");
    if (text instanceof Problem) {
      addIssue({ message: text.message, path: [{ type: "object", origin: "value", input: d, key: "inline_bytes", value: d.inline_bytes }] });
      return NEVER;
    }
    return text;
  }),
);

/** Control side: decodes base64 (standard or URL alphabet, padding optional) holding UTF-8 text. */
export function decodeBase64Utf8(b64: string): string | Problem {
  const s = b64.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return new Problem("invalid base64");
  let bin: string;
  try {
    bin = atob(s + "=".repeat((4 - (s.length % 4)) % 4));
  } catch {
    return new Problem("invalid base64");
  }
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return new Problem("the decoded bytes are not UTF-8 text (binary bodies are not supported yet)");
  }
}
