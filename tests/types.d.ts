/** Ambient types for test-only packages that ship none. */
declare module "parse-prometheus-text-format" {
  /** One metric family parsed from the Prometheus text format. */
  export interface MetricFamily {
    name: string;
    help?: string;
    type: string;
    metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
  }
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
