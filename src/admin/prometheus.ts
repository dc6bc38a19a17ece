/**
 * `/stats/prometheus` (control side): Envoy stat names → Prometheus metric families, with the
 * tags Envoy extracts by default turned into labels (a subset of Envoy's default tag regexes:
 * cluster name, HTTP connection manager prefix, listener address, response code class).
 * https://www.envoyproxy.io/docs/envoy/latest/operations/admin#get--stats-prometheus
 */
import { HISTOGRAM_BUCKETS, type HistogramSummary, type StatEntry } from "../core/stats.ts";

interface Tagged {
  name: string;
  labels: [string, string][];
}

/** Extracts Envoy's default tags from a stat name. */
export function extractTags(statName: string): Tagged {
  let name = statName;
  const labels: [string, string][] = [];
  // Response code class: http.x.downstream_rq_2xx → downstream_rq_xx{envoy_response_code_class="2"}.
  const rc = /_rq_(\d)xx$/.exec(name);
  if (rc) {
    labels.push(["envoy_response_code_class", rc[1]!]);
    name = name.slice(0, rc.index) + "_rq_xx";
  }
  let m: RegExpExecArray | null;
  if ((m = /^cluster\.(.+?)\.(?=upstream_|membership_|health_check\.|outlier_detection\.|circuit_breakers\.|lb_|max_host|update_|version|bind_errors|assignment_|original_dst_)/.exec(name))) {
    labels.push(["envoy_cluster_name", m[1]!]);
    name = "cluster." + name.slice(m[0].length);
  } else if ((m = /^http\.(.*?)\./.exec(name))) {
    labels.push(["envoy_http_conn_manager_prefix", m[1]!]);
    name = "http." + name.slice(m[0].length);
  } else if ((m = /^listener\.((?:[_.\d]*|[_[\]a-fA-F\d]*))\./.exec(name))) {
    labels.push(["envoy_listener_address", m[1]!]);
    name = "listener." + name.slice(m[0].length);
  }
  return { name: "envoy_" + name.replace(/[^a-zA-Z0-9_]/g, "_"), labels };
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Renders stats in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(
  entries: readonly StatEntry[],
  usedOnly: boolean,
  histograms: ReadonlyMap<string, HistogramSummary> = new Map(),
): string {
  const families = new Map<string, { type: string; lines: string[] }>();
  for (const e of entries) {
    if (usedOnly && !e.used) continue;
    const t = extractTags(e.name);
    let f = families.get(t.name);
    if (!f) families.set(t.name, (f = { type: e.type, lines: [] }));
    const labels = t.labels.length ? `{${t.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
    f.lines.push(`${t.name}${labels} ${e.value}`);
  }
  for (const [statName, h] of histograms) {
    if (usedOnly && h.count === 0) continue;
    const t = extractTags(statName);
    let f = families.get(t.name);
    if (!f) families.set(t.name, (f = { type: "histogram", lines: [] }));
    const base = t.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const lbl = (extra: string[]) => (extra.length || base.length ? `{${[...base, ...extra].join(",")}}` : "");
    let cumulative = 0;
    HISTOGRAM_BUCKETS.forEach((bound, i) => {
      cumulative += h.buckets[i]!;
      f!.lines.push(`${t.name}_bucket${lbl([`le="${bound}"`])} ${cumulative}`);
    });
    f.lines.push(`${t.name}_bucket${lbl(['le="+Inf"'])} ${h.count}`);
    f.lines.push(`${t.name}_sum${lbl([])} ${h.sum}`);
    f.lines.push(`${t.name}_count${lbl([])} ${h.count}`);
  }
  let out = "";
  for (const [name, f] of [...families].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    out += `# TYPE ${name} ${f.type}\n${f.lines.join("\n")}\n`;
  }
  return out;
}
