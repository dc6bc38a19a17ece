/**
 * `legate xds-server`: the test/example xDS management server as a command (control side).
 *
 *   legate xds-server --snapshot <file-or-dir> [--port 18000] [--host 127.0.0.1] [--rest-port N]
 *                     [--poll-ms 200] [-l LEVEL]
 */
import { configureLogging, Logger, type LogLevel, parseLogLevel } from "../../core/log.ts";
import type { Runtime } from "../../runtime/types.ts";
import { cliFlags } from "../../cli.ts";
import { describeEvent, startXdsServer } from "./server.ts";

/** The subcommand's --help text. */
export const XDS_SERVER_USAGE = `Usage: legate xds-server --snapshot FILE_OR_DIR [options]

An xDS v3 management server for tests and demos: serves the snapshot over gRPC (ADS and
LDS/RDS/CDS/EDS, State of the World and delta) and, with --rest-port, REST-JSON; watches the
snapshot path and pushes every new version (replace files by atomic rename).

      --snapshot PATH        a snapshot file (YAML/JSON: {version, resources: {listeners, routes,
                             clusters, endpoints}}) or a directory of them (the last by name wins)
      --port N               gRPC port (default 18000; 0 = any free port)
      --host ADDR            listen address (default 127.0.0.1)
      --rest-port N          also serve POST /v3/discovery:<type> (REST-JSON) on this port
      --poll-ms N            how often the snapshot path is checked (default 200)
  -l, --log-level LEVEL      trace, debug, info, warning, error, critical, off (default info)
  -h, --help                 this text
`;

/** Parsed `xds-server` flags. */
export interface XdsServerCliOptions {
  snapshot: string | undefined;
  port: number;
  host: string;
  restPort: number | undefined;
  pollMs: number;
  logLevel: LogLevel;
  help: boolean;
}

/** Parses the arguments after `xds-server`; throws Error with a user-facing message. */
export function parseXdsServerArgs(argv: readonly string[]): XdsServerCliOptions {
  const o: XdsServerCliOptions = { snapshot: undefined, port: 18000, host: "127.0.0.1", restPort: undefined, pollMs: 200, logLevel: "info", help: false };
  const portOf = (flag: string, v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 65535) throw new Error(`${flag} must be a port number (0-65535), not '${v}'`);
    return n;
  };
  for (const { name: arg, raw, value: next } of cliFlags(argv)) {
    switch (arg) {
      case "--snapshot":
        o.snapshot = next();
        break;
      case "--port":
        o.port = portOf(arg, next());
        break;
      case "--host":
        o.host = next();
        break;
      case "--rest-port":
        o.restPort = portOf(arg, next());
        break;
      case "--poll-ms": {
        const v = next();
        if (!/^\d+$/.test(v) || Number(v) < 10) throw new Error(`--poll-ms must be a whole number of at least 10, not '${v}'`);
        o.pollMs = Number(v);
        break;
      }
      case "-l":
      case "--log-level": {
        const v = next();
        const l = parseLogLevel(v);
        if (!l) throw new Error(`--log-level: unknown level '${v}'`);
        o.logLevel = l;
        break;
      }
      case "-h":
      case "--help":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option '${raw}' (see legate xds-server --help)`);
    }
  }
  if (!o.help && o.snapshot === undefined) throw new Error("--snapshot FILE_OR_DIR is required");
  return o;
}

/** Runs the subcommand until SIGINT/SIGTERM; returns the exit code. */
export async function runXdsServerCli(runtime: Runtime, argv: readonly string[]): Promise<number> {
  let o: XdsServerCliOptions;
  try {
    o = parseXdsServerArgs(argv);
  } catch (e) {
    runtime.writeStderr(`legate xds-server: ${e instanceof Error ? e.message : e}\n\n${XDS_SERVER_USAGE}`);
    return 1;
  }
  if (o.help) {
    runtime.writeStdout(XDS_SERVER_USAGE);
    return 0;
  }
  configureLogging({ pid: runtime.pid, level: o.logLevel, sink: (line) => runtime.writeStderr(line + "\n") });
  const log = new Logger("xds_server");
  let cp;
  try {
    cp = await startXdsServer({ host: o.host, port: o.port, restPort: o.restPort, snapshotPath: o.snapshot, pollMs: o.pollMs, logSnapshots: true });
  } catch (e) {
    runtime.writeStderr(`legate xds-server: ${e instanceof Error ? e.message : e}\n`);
    return 1;
  }
  cp.onEvent((e) => {
    if (e.event === "request" && e.verdict !== "initial") return;
    if (e.event !== "nack") log.info(describeEvent(e));
  });
  log.info(`xds-server listening on ${o.host}:${cp.port} (gRPC: ADS, LDS, RDS, CDS, EDS; SotW and delta)` +
    (cp.restPort !== undefined ? `; REST-JSON on ${o.host}:${cp.restPort}` : ""));
  return new Promise<number>((resolve) => {
    const stop = (sig: string): void => {
      log.info(`caught ${sig}, stopping`);
      void cp.close().then(() => resolve(0));
    };
    runtime.onSignal("SIGINT", () => stop("SIGINT"));
    runtime.onSignal("SIGTERM", () => stop("SIGTERM"));
  });
}
