/**
 * Command-line flags, Envoy's names where Envoy has the flag (control side, at start).
 * https://www.envoyproxy.io/docs/envoy/latest/operations/cli
 */
import { type LogLevel, parseLogLevel } from "./core/log.ts";

/** Parsed command line. */
export interface CliOptions {
  configPath: string | undefined;
  configYaml: string | undefined;
  mode: "serve" | "validate";
  /** undefined = the default (number of CPUs, once workers land). */
  concurrency: number | undefined;
  logLevel: LogLevel;
  version: boolean;
  help: boolean;
  /** Run without the hot-restart supervisor (one process; SIGHUP does nothing). */
  disableHotRestart: boolean;
  /** Envoy's --drain-time-s (default 600). */
  drainTimeS: number;
  /** Envoy's --parent-shutdown-time-s (default 900). */
  parentShutdownTimeS: number;
  drainStrategy: "gradual" | "immediate";
  hotRestartVersion: boolean;
  /** Set by the supervisor for each generation. */
  restartEpoch: number;
}

/** The --help text. */
export const USAGE = `Usage: legate [options]

  -c, --config-path FILE     Envoy v3 bootstrap config (YAML or JSON)
      --config-yaml STRING   YAML merged over the config file (Envoy's MergeFrom semantics)
      --mode serve|validate  validate: check the config, print OK or every error, exit 0/1
      --concurrency N        data-plane worker threads (default: CPUs; 0 = serve on the main thread)
      --disable-hot-restart  run as one process, without the hot-restart supervisor
      --drain-time-s N       how long an old generation drains after a hot restart (default 600)
      --parent-shutdown-time-s N  when an old generation is killed (default 900)
      --drain-strategy S     gradual or immediate (default gradual)
      --hot-restart-version  print the supervisor protocol version and exit
  -l, --log-level LEVEL      trace, debug, info, warning, error, critical, off
      --version              print the version and exit
  -h, --help                 this text

       legate xds-server --snapshot FILE_OR_DIR [--port N] [--host ADDR] [--rest-port N]
                             an xDS management server for tests and demos (see its --help)
`;

/** One command-line flag: its name (`--x` of `--x=v` too), as written, and its value (the
 *  `=v` part, else the next argument, consumed; "needs a value" when there is none). */
export interface CliFlag {
  readonly name: string;
  readonly raw: string;
  value(): string;
}

/** Walks argv flag by flag; a flag's value() consumes the following argument when needed. */
export function* cliFlags(argv: readonly string[]): Generator<CliFlag> {
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf("=");
    const inline = raw.startsWith("--") && eq > 0 ? raw.slice(eq + 1) : undefined;
    const name = inline !== undefined ? raw.slice(0, eq) : raw;
    yield {
      name,
      raw,
      value: (): string => {
        if (inline !== undefined) return inline;
        const v = argv[++i];
        if (v === undefined) throw new Error(`${name} needs a value`);
        return v;
      },
    };
  }
}

/** Parses argv (without the program name); throws Error with a user-facing message. */
export function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = {
    configPath: undefined,
    configYaml: undefined,
    mode: "serve",
    concurrency: undefined,
    logLevel: "info",
    version: false,
    help: false,
    disableHotRestart: false,
    drainTimeS: 600,
    parentShutdownTimeS: 900,
    drainStrategy: "gradual",
    hotRestartVersion: false,
    restartEpoch: 0,
  };
  const seconds = (flag: string, v: string): number => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v)) throw new Error(`${flag} must be a number of seconds, not '${v}'`);
    return n;
  };
  for (const { name: arg, raw, value: next } of cliFlags(argv)) {
    switch (arg) {
      case "-c":
      case "--config-path":
        o.configPath = next();
        break;
      case "--config-yaml":
        o.configYaml = next();
        break;
      case "--mode": {
        const m = next();
        if (m !== "serve" && m !== "validate") throw new Error(`--mode must be serve or validate, not '${m}'`);
        o.mode = m;
        break;
      }
      case "--concurrency": {
        const v = next();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 1024) throw new Error(`--concurrency must be a whole number from 0 to 1024, not '${v}'`);
        o.concurrency = n;
        break;
      }
      case "-l":
      case "--log-level": {
        const v = next();
        const l = parseLogLevel(v);
        if (!l) throw new Error(`--log-level: unknown level '${v}' (trace, debug, info, warning, error, critical, off)`);
        o.logLevel = l;
        break;
      }
      case "--version":
        o.version = true;
        break;
      case "--disable-hot-restart":
        o.disableHotRestart = true;
        break;
      case "--drain-time-s":
        o.drainTimeS = seconds(arg, next());
        break;
      case "--parent-shutdown-time-s":
        o.parentShutdownTimeS = seconds(arg, next());
        break;
      case "--drain-strategy": {
        const v = next();
        if (v !== "gradual" && v !== "immediate") throw new Error(`--drain-strategy must be gradual or immediate, not '${v}'`);
        o.drainStrategy = v;
        break;
      }
      case "--hot-restart-version":
        o.hotRestartVersion = true;
        break;
      case "--restart-epoch":
        o.restartEpoch = seconds(arg, next());
        break;
      case "-h":
      case "--help":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option '${raw}' (see --help)`);
    }
  }
  return o;
}
