/**
 * Access log configuration (control side): the `envoy.config.accesslog.v3.AccessLog` wrapper and
 * the file / stdout / stderr access logger extensions, registered by `@type` on import.
 */
import * as v from "valibot";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../registry/registry.ts";
import { OPERATOR_NAMES_FOR_DOCS, RESPONSE_FLAG_NAMES, validateFormat } from "../http/conn_manager/formatter.ts";
import type { AccessLogFilterModel, AccessLogModel } from "./model.ts";
import { any, bool, enumOf, inlineDataSource, isMapping, list, message, parseWith, str, uint32 } from "./schema.ts";

/** Envoy's default access log format, used when a logger's config gives none
 *  (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#default-format-string). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% " +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** What an access logger extension's parseConfig returns (AccessLogModel without the name). */
export type AccessLoggerConfig = Omit<AccessLogModel, "name">;

/** `type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog` */
export const FILE_ACCESS_LOG_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
/** `type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog` */
export const STDOUT_ACCESS_LOG_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
/** `type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog` */
export const STDERR_ACCESS_LOG_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog";

/** A parsed `config.core.v3.SubstitutionFormatString`: a text format or a JSON object format. */
export interface SubstitutionFormat {
  readonly text: string;
  readonly json?: Readonly<Record<string, unknown>>;
  readonly contentType?: string;
  /** omit_empty_values: absent values print "" (text) or drop their key (JSON). */
  readonly omitEmpty?: boolean;
}

/** `config.core.v3.SubstitutionFormatString`: text_format, text_format_source or json_format. */
export const substitutionFormatString: v.GenericSchema<unknown, SubstitutionFormat> = v.pipe(
  message(
    {
      text_format: v.optional(str()),
      text_format_source: v.optional(inlineDataSource),
      json_format: v.optional(v.custom<Record<string, unknown>>((x) => isMapping(x), "expected a mapping (a JSON object format)")),
      content_type: v.optional(str()),
      omit_empty_values: v.optional(bool(), false),
    },
    {
      unsupported: ["formatters", "json_format_options"],
      oneofs: [{ members: ["text_format", "json_format", "text_format_source"], supported: ["text_format_source", "text_format", "json_format"], required: true }],
    },
  ),
  v.transform((f): SubstitutionFormat => ({
    text: f.text_format_source ?? f.text_format ?? "",
    ...(f.json_format ? { json: f.json_format } : {}),
    ...(f.content_type !== undefined ? { contentType: f.content_type } : {}),
    ...(f.omit_empty_values ? { omitEmpty: true } : {}),
  })),
);

/** Control side: reports every unsupported command operator of a format (text or JSON leaves)
 *  at `path`; returns false when there was one. */
export function checkFormat(ctx: ParseContext, path: string, f: SubstitutionFormat | string): boolean {
  const texts: string[] = [];
  const walk = (x: unknown): void => {
    if (typeof x === "string") texts.push(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (isMapping(x)) Object.values(x).forEach(walk);
  };
  if (typeof f === "string") texts.push(f);
  else if (f.json) walk(f.json);
  else texts.push(f.text);
  let ok = true;
  for (const t of texts) {
    for (const bad of validateFormat(t)) {
      ctx.issue(path, `unsupported command operator ${bad} (supported: ${OPERATOR_NAMES_FOR_DOCS})`);
      ok = false;
    }
  }
  return ok;
}

const fileAccessLogSchema = message(
  { path: str({ nonEmpty: true }), format: v.optional(str()), log_format: v.optional(substitutionFormatString) },
  {
    unsupported: ["json_format", "typed_json_format"],
    oneofs: [{ members: ["format", "json_format", "typed_json_format", "log_format"], supported: ["log_format", "format"] }],
  },
);

const streamAccessLogSchema = message({ log_format: v.optional(substitutionFormatString) });

/** Control side: the file access logger (`envoy.access_loggers.file`). */
export const fileAccessLogExtension: ConfigExtension<AccessLoggerConfig> = {
  name: "envoy.access_loggers.file",
  typeUrls: [FILE_ACCESS_LOG_TYPE_URL],
  category: "access_logger",
  parseConfig(json, ctx) {
    const c = parseWith(ctx, fileAccessLogSchema, json);
    if (!c) return undefined;
    if (c.log_format) return fromFormat("file", c.path, c.log_format, ctx);
    const format = c.format ?? DEFAULT_ACCESS_LOG_FORMAT;
    if (!checkFormat(ctx, "format", format)) return undefined;
    return { kind: "file", path: c.path, format };
  },
};

function fromFormat(kind: AccessLoggerConfig["kind"], path: string | undefined, f: SubstitutionFormat, ctx: ParseContext): AccessLoggerConfig | undefined {
  if (!checkFormat(ctx, "log_format", f)) return undefined;
  const omit = f.omitEmpty ? { omitEmpty: true } : {};
  if (f.json) return { kind, path, format: "", json: f.json, ...omit };
  return { kind, path, format: f.text === "" ? DEFAULT_ACCESS_LOG_FORMAT : f.text, ...omit };
}

function streamLogger(kind: "stdout" | "stderr", typeUrl: string): ConfigExtension<AccessLoggerConfig> {
  return {
    name: `envoy.access_loggers.${kind}`,
    typeUrls: [typeUrl],
    category: "access_logger",
    parseConfig(json, ctx) {
      const c = parseWith(ctx, streamAccessLogSchema, json);
      if (!c) return undefined;
      if (c.log_format) return fromFormat(kind, undefined, c.log_format, ctx);
      return { kind, path: undefined, format: DEFAULT_ACCESS_LOG_FORMAT };
    },
  };
}

/** Control side: the stdout access logger (`envoy.access_loggers.stdout`). */
export const stdoutAccessLogExtension: ConfigExtension<AccessLoggerConfig> = streamLogger("stdout", STDOUT_ACCESS_LOG_TYPE_URL);
/** Control side: the stderr access logger (`envoy.access_loggers.stderr`). */
export const stderrAccessLogExtension: ConfigExtension<AccessLoggerConfig> = streamLogger("stderr", STDERR_ACCESS_LOG_TYPE_URL);

registerConfigExtension(fileAccessLogExtension);
registerConfigExtension(stdoutAccessLogExtension);
registerConfigExtension(stderrAccessLogExtension);

const accessLogSchema = message({ name: v.optional(str(), ""), typed_config: v.optional(any), filter: v.optional(any) });

const comparisonSchema = message({
  op: v.optional(enumOf(["EQ", "GE", "LE"] as const), "EQ"),
  value: message({ default_value: v.optional(uint32(), 0), runtime_key: str({ nonEmpty: true }) }),
});

const FILTER_KINDS = [
  "status_code_filter", "duration_filter", "not_health_check_filter", "traceable_filter", "runtime_filter",
  "and_filter", "or_filter", "header_filter", "response_flag_filter", "grpc_status_filter", "extension_filter",
  "metadata_filter", "log_type_filter",
];
const SUPPORTED_FILTERS = ["status_code_filter", "duration_filter", "not_health_check_filter", "and_filter", "or_filter", "response_flag_filter"];

/** Control side: parses a `config.accesslog.v3.AccessLogFilter` (also used by local_reply_config). */
export function parseAccessLogFilter(raw: unknown, ctx: ParseContext): AccessLogFilterModel | undefined {
  if (!isMapping(raw)) {
    ctx.issue("", `expected a mapping, got ${Array.isArray(raw) ? "a list" : typeof raw}`);
    return undefined;
  }
  const keys = Object.keys(raw);
  for (const k of keys) {
    if (!FILTER_KINDS.includes(k)) ctx.issue("", `unknown field ${JSON.stringify(k)}`);
    else if (!SUPPORTED_FILTERS.includes(k)) ctx.issue(k, "is not supported yet");
  }
  const present = keys.filter((k) => FILTER_KINDS.includes(k));
  if (present.length !== 1) {
    if (present.length > 1) ctx.issue("", `only one of ${present.join(", ")} may be set`);
    else if (keys.length === 0) ctx.issue("", `one of ${SUPPORTED_FILTERS.join(", ")} is required`);
    return undefined;
  }
  const k = present[0]!;
  if (!SUPPORTED_FILTERS.includes(k)) return undefined;
  const c = ctx.child(k);
  const body = raw[k];
  switch (k) {
    case "status_code_filter":
    case "duration_filter": {
      const f = parseWith(c, message({ comparison: comparisonSchema }), body);
      if (!f) return undefined;
      return { kind: k === "status_code_filter" ? "status_code" : "duration", op: f.comparison.op, value: f.comparison.value.default_value };
    }
    case "not_health_check_filter":
      return parseWith(c, message({}), body ?? {}) ? { kind: "not_health_check" } : undefined;
    case "response_flag_filter": {
      const f = parseWith(c, message({ flags: v.optional(v.array(str()), []) }), body ?? {});
      if (!f) return undefined;
      let ok = true;
      f.flags.forEach((fl, i) => {
        if (!RESPONSE_FLAG_NAMES.includes(fl)) {
          c.issue(`flags[${i}]`, `unknown response flag ${JSON.stringify(fl)} (known: ${RESPONSE_FLAG_NAMES.join(", ")})`);
          ok = false;
        }
      });
      return ok ? { kind: "response_flag", flags: f.flags } : undefined;
    }
    default: {
      // and_filter / or_filter: `filters` with at least two entries (Envoy's validation).
      const f = parseWith(c, message({ filters: list }), body);
      if (!f) return undefined;
      if (f.filters.length < 2) {
        c.issue("filters", `must have at least 2 items, got ${f.filters.length}`);
        return undefined;
      }
      const subs = f.filters.map((x, i) => parseAccessLogFilter(x, c.child(`filters[${i}]`)));
      if (subs.some((x) => x === undefined)) return undefined;
      return { kind: k === "and_filter" ? "and" : "or", filters: subs as AccessLogFilterModel[] };
    }
  }
}

/** Control side: parses a repeated `config.accesslog.v3.AccessLog` field (e.g. the HCM's
 *  `access_log`); `raw` is the list. Undefined when any entry is invalid. */
export function parseAccessLogs(raw: unknown[], ctx: ParseContext): AccessLogModel[] | undefined {
  const out: AccessLogModel[] = [];
  let ok = true;
  raw.forEach((entry, i) => {
    const c = ctx.child(`[${i}]`);
    const log = parseWith(c, accessLogSchema, entry);
    // The typed_config is resolved even when a sibling field is wrong, to report everything.
    const typed = c.parseTypedConfig(isMapping(entry) ? entry.typed_config : undefined, "typed_config", "access_logger");
    const filter = isMapping(entry) && entry.filter !== undefined ? parseAccessLogFilter(entry.filter, c.child("filter")) : null;
    if (!log || !typed || filter === undefined) {
      ok = false;
      return;
    }
    const cfg = typed.config as AccessLoggerConfig;
    out.push({
      name: log.name || typed.extension.name,
      kind: cfg.kind,
      path: cfg.path,
      format: cfg.format,
      ...(cfg.json ? { json: cfg.json } : {}),
      ...(cfg.omitEmpty ? { omitEmpty: true } : {}),
      ...(filter ? { filter } : {}),
    });
  });
  return ok ? out : undefined;
}
