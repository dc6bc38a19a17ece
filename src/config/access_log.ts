/**
 * Access log configuration (control side): the `envoy.config.accesslog.v3.AccessLog` wrapper and
 * the file / stdout / stderr access logger extensions, registered by `@type` on import.
 */
import * as v from "valibot";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../registry/registry.ts";
import type { AccessLogModel } from "./model.ts";
import { any, inlineDataSource, isMapping, message, parseWith, str } from "./schema.ts";

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

/** `config.core.v3.SubstitutionFormatString`, text formats only → the format string. */
const substitutionFormatString = v.pipe(
  message(
    { text_format: v.optional(str()), text_format_source: v.optional(inlineDataSource) },
    {
      unsupported: ["json_format", "omit_empty_values", "content_type", "formatters", "json_format_options"],
      oneofs: [{ members: ["text_format", "json_format", "text_format_source"], supported: ["text_format_source", "text_format"], required: true }],
    },
  ),
  v.transform((f) => f.text_format_source ?? f.text_format ?? DEFAULT_ACCESS_LOG_FORMAT),
);

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
    return { kind: "file", path: c.path, format: c.log_format ?? c.format ?? DEFAULT_ACCESS_LOG_FORMAT };
  },
};

function streamLogger(kind: "stdout" | "stderr", typeUrl: string): ConfigExtension<AccessLoggerConfig> {
  return {
    name: `envoy.access_loggers.${kind}`,
    typeUrls: [typeUrl],
    category: "access_logger",
    parseConfig(json, ctx) {
      const c = parseWith(ctx, streamAccessLogSchema, json);
      if (!c) return undefined;
      return { kind, path: undefined, format: c.log_format ?? DEFAULT_ACCESS_LOG_FORMAT };
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

const accessLogSchema = message({ name: v.optional(str(), ""), typed_config: v.optional(any) }, { unsupported: ["filter"] });

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
    if (!log || !typed) {
      ok = false;
      return;
    }
    const cfg = typed.config as AccessLoggerConfig;
    out.push({ name: log.name || typed.extension.name, kind: cfg.kind, path: cfg.path, format: cfg.format });
  });
  return ok ? out : undefined;
}
