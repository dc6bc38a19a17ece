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
}

/** The --help text. */
export const USAGE = `Usage: legate [options]

  -c, --config-path FILE     Envoy v3 bootstrap config (YAML or JSON)
      --config-yaml STRING   YAML merged over the config file (Envoy's MergeFrom semantics)
      --mode serve|validate  validate: check the config, print OK or every error, exit 0/1
      --concurrency N        data-plane worker threads (default: CPUs; 0 = serve on the main thread)
  -l, --log-level LEVEL      trace, debug, info, warning, error, critical, off
      --version              print the version and exit
  -h, --help                 this text
`;

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
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
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
      case "-h":
      case "--help":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option '${argv[i]}' (see --help)`);
    }
  }
  return o;
}
