import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { ConfigIssue } from "../core/errors.ts";
import { clusterModelDefaults, endpointModel, parseCluster } from "./cluster.ts";
import { createParseContext } from "./context.ts";

function parse(raw: Record<string, unknown>) {
  const issues: ConfigIssue[] = [];
  const m = parseCluster({ name: "c", ...raw }, createParseContext({ issues }));
  return { m, lines: issues.map((i) => `${i.path}: ${i.message}`) };
}

const ep = (address: string, port = 80, extra: Record<string, unknown> = {}) => ({
  endpoint: { address: { socket_address: { address, port_value: port } } },
  ...extra,
});

test("cluster config: every supported field reaches the model", () => {
  const { m, lines } = parse({
    type: "STRICT_DNS",
    connect_timeout: "0.25s",
    lb_policy: "LEAST_REQUEST",
    least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: "x" } },
    common_lb_config: { healthy_panic_threshold: { value: 25 }, locality_weighted_lb_config: {} },
    circuit_breakers: { thresholds: [{ max_connections: 10, max_pending_requests: 20 }, { priority: "HIGH", max_retries: 9 }, { max_connections: 99 }] },
    health_checks: [{
      timeout: "1s",
      interval: "2s",
      interval_jitter: "0.1s",
      unhealthy_threshold: 3,
      healthy_threshold: { value: 2 },
      http_health_check: { path: "/h", host: "h.example", expected_statuses: [{ start: 200, end: 400 }], request_headers_to_add: [{ header: { key: "X-A", value: "1" }, append: false }] },
    }],
    outlier_detection: { consecutive_5xx: 7, base_ejection_time: "10s", max_ejection_percent: 30 },
    dns_refresh_rate: "2s",
    dns_failure_refresh_rate: { base_interval: "1s" },
    respect_dns_ttl: true,
    dns_lookup_family: "V4_ONLY",
    common_http_protocol_options: { idle_timeout: "30s", max_requests_per_connection: 100 },
    load_assignment: {
      cluster_name: "c",
      policy: { overprovisioning_factor: 100 },
      endpoints: [
        { locality: { region: "eu", zone: "a" }, load_balancing_weight: 3, lb_endpoints: [ep("svc.local", 8080, { load_balancing_weight: 2, health_status: "DRAINING" })] },
        { priority: 1, lb_endpoints: [ep("backup.local", 8080)] },
      ],
    },
  });
  assert.deepEqual(lines, []);
  assert.equal(m!.type, "STRICT_DNS");
  assert.equal(m!.connectTimeoutMs, 250);
  assert.deepEqual(m!.leastRequest, { choiceCount: 3, activeRequestBias: 0.5 });
  assert.equal(m!.healthyPanicThreshold, 25);
  assert.equal(m!.localityWeightedLb, true);
  assert.equal(m!.overprovisioningFactor, 100);
  assert.deepEqual(m!.circuitBreakers.default, { maxConnections: 10, maxPendingRequests: 20, maxRequests: 1024, maxRetries: 3 }, "first DEFAULT wins");
  assert.equal(m!.circuitBreakers.high.maxRetries, 9);
  const hc = m!.healthChecks[0]!;
  assert.equal(hc.intervalJitterMs, 100);
  assert.equal(hc.noTrafficIntervalMs, 60_000);
  assert.equal(hc.unhealthyIntervalMs, 2000);
  assert.deepEqual(hc.http!.expectedStatuses, [[200, 400]]);
  assert.deepEqual(hc.http!.requestHeadersToAdd, [{ key: "x-a", value: "1", append: false }]);
  assert.equal(m!.outlierDetection!.consecutive5xx, 7);
  assert.equal(m!.outlierDetection!.consecutiveGatewayFailure, 5);
  assert.equal(m!.outlierDetection!.enforcingConsecutiveGatewayFailure, 0);
  assert.equal(m!.outlierDetection!.intervalMs, 10_000);
  assert.equal(m!.outlierDetection!.maxEjectionPercent, 30);
  assert.equal(m!.dnsRefreshRateMs, 2000);
  assert.equal(m!.dnsFailureRefreshRateMs, 1000);
  assert.equal(m!.respectDnsTtl, true);
  assert.equal(m!.dnsLookupFamily, "V4_ONLY");
  assert.equal(m!.idleTimeoutMs, 30_000);
  assert.equal(m!.maxRequestsPerConnection, 100);
  assert.deepEqual(m!.endpoints[0], {
    ...endpointModel("svc.local", 8080, 2),
    locality: { region: "eu", zone: "a", subZone: "" },
    localityWeight: 3,
    healthStatus: "DRAINING",
  });
  assert.equal(m!.endpoints[1]!.priority, 1);
});

test("cluster config: defaults match Envoy's", () => {
  const { m } = parse({});
  const { name: _n, type: _t, connectTimeoutMs: _c, lbPolicy: _l, endpoints: _e, perConnectionBufferLimitBytes: _p, ...rest } = m!;
  assert.deepEqual(rest, clusterModelDefaults());
  assert.deepEqual(clusterModelDefaults().circuitBreakers.default, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
});

test("cluster config: semantic errors name their path", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ type: "LOGICAL_DNS", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [ep("a.local"), ep("b.local")] }] } },
      "load_assignment: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint (got 2 endpoints)"],
    [{ load_assignment: { cluster_name: "c", endpoints: [{ priority: 1, lb_endpoints: [ep("10.0.0.1")] }] } },
      "load_assignment.endpoints: priorities must be contiguous from 0: priority 1 is set but 0 is not"],
    [{ lb_policy: "MAGLEV", maglev_lb_config: { table_size: 1000 } }, "maglev_lb_config.table_size: must be a prime number, got 1000"],
    [{ ring_hash_lb_config: {} }, "ring_hash_lb_config: is set but lb_policy is not RING_HASH"],
    [{ lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: 2048, maximum_ring_size: 1024 } },
      "ring_hash_lb_config.minimum_ring_size: minimum_ring_size (2048) must not exceed maximum_ring_size (1024)"],
    [{ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/", expected_statuses: [{ start: 300, end: 200 }] } }] },
      "health_checks[0].http_health_check.expected_statuses[0]: invalid range [300, 200): statuses must be within [100, 600) and start < end"],
    [{ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1 }] },
      "health_checks[0]: one of http_health_check, tcp_health_check is required"],
    [{ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: "xyz" } } }] },
      "health_checks[0].tcp_health_check.send.text: must be hex-encoded bytes (an even number of hex digits)"],
    [{ outlier_detection: { enforcing_success_rate: 100 } }, "outlier_detection.enforcing_success_rate: must be between 0 and 0, got 100"],
    [{ outlier_detection: { success_rate_minimum_hosts: 3 } }, "outlier_detection.success_rate_minimum_hosts: is not supported yet"],
    [{ type: "EDS" }, "eds_cluster_config.eds_config: is required for an EDS cluster"],
    [{ type: "ORIGINAL_DST" }, "type: ORIGINAL_DST is not supported yet"],
    [{ eds_cluster_config: { service_name: "x" } }, "eds_cluster_config: is only for clusters of type EDS (this one is STATIC)"],
    [{ circuit_breakers: { thresholds: [{ priority: "LOW" }] } }, 'circuit_breakers.thresholds[0].priority: unknown value "LOW" (accepted: DEFAULT, HIGH)'],
    [{ dns_lookup_family: "V5" }, 'dns_lookup_family: unknown value "V5" (accepted: AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL)'],
  ];
  for (const [raw, line] of cases) {
    const { m, lines } = parse(raw);
    assert.deepEqual(lines, [line], JSON.stringify(raw));
    assert.equal(m, undefined);
  }
});

test("cluster config: STRICT_DNS accepts host names, STATIC refuses them", () => {
  const la = { cluster_name: "c", endpoints: [{ lb_endpoints: [ep("backend.local")] }] };
  assert.deepEqual(parse({ type: "STRICT_DNS", load_assignment: la }).lines, []);
  assert.match(parse({ load_assignment: la }).lines[0]!, /a STATIC cluster needs IP addresses/);
});

const TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const tlsSocket = (ctx: Record<string, unknown>) => ({ transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": TLS_TYPE, ...ctx } } });

test("cluster config: transport_socket tls reaches the model (files stay file names)", () => {
  const { m, lines } = parse(tlsSocket({
    sni: "backend.example",
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
      validation_context: { trusted_ca: { filename: "/etc/ca.pem" } },
      tls_certificates: [{ certificate_chain: { inline_string: "CHAIN" }, private_key: { inline_bytes: btoa("KEY") } }],
      alpn_protocols: ["http/1.1"],
    },
  }));
  assert.deepEqual(lines, []);
  assert.deepEqual(m!.tls, {
    sni: "backend.example",
    trustedCa: { filename: "/etc/ca.pem" },
    clientCertificate: { certificateChain: { inline: "CHAIN" }, privateKey: { inline: "KEY" } },
    alpn: ["http/1.1"],
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
    cipherSuites: [],
    ecdhCurves: [],
  });
  // An empty UpstreamTlsContext: TLS without verification (Envoy's default), no SNI.
  assert.deepEqual(parse(tlsSocket({})).m!.tls, { sni: "", trustedCa: undefined, clientCertificate: undefined, alpn: [], minVersion: undefined, maxVersion: undefined, cipherSuites: [], ecdhCurves: [] });
  // No transport_socket, or raw_buffer: plain TCP.
  assert.equal(parse({}).m!.tls, undefined);
  const raw = parse({ transport_socket: { name: "envoy.transport_sockets.raw_buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" } } });
  assert.deepEqual(raw.lines, []);
  assert.equal(raw.m!.tls, undefined);
});

test("cluster config: unsupported upstream TLS fields are refused with their paths", () => {
  const base = "transport_socket.typed_config";
  const cases: [Record<string, unknown>, string][] = [
    [tlsSocket({ common_tls_context: { alpn_protocols: ["h2", "http/1.1"] } }),
      `${base}.common_tls_context.alpn_protocols[0]: "h2" is not supported yet (only "http/1.1")`],
    [tlsSocket({ allow_renegotiation: true }), `${base}.allow_renegotiation: is not supported yet`],
    [tlsSocket({ auto_host_sni: true }), `${base}.auto_host_sni: is not supported yet`],
    [tlsSocket({ common_tls_context: { validation_context: { match_typed_subject_alt_names: [] } } }),
      `${base}.common_tls_context.validation_context.match_typed_subject_alt_names: is not supported yet`],
    [tlsSocket({ common_tls_context: { validation_context_sds_secret_config: {} } }),
      `${base}.common_tls_context.validation_context_sds_secret_config: is not supported yet`],
    [tlsSocket({ common_tls_context: { tls_certificate_sds_secret_configs: [] } }),
      `${base}.common_tls_context.tls_certificate_sds_secret_configs: is not supported yet`],
    [tlsSocket({ common_tls_context: { tls_params: { signature_algorithms: ["ecdsa_secp256r1_sha256"] } } }),
      `${base}.common_tls_context.tls_params.signature_algorithms: is not supported yet`],
    [tlsSocket({ common_tls_context: { tls_params: { tls_minimum_protocol_version: "TLSv1_3", tls_maximum_protocol_version: "TLSv1_2" } } }),
      `${base}.common_tls_context.tls_params: tls_minimum_protocol_version (TLSv1.3) is above tls_maximum_protocol_version (TLSv1.2)`],
    [tlsSocket({ common_tls_context: { validation_context: { trusted_ca: { environment_variable: "CA" } } } }),
      `${base}.common_tls_context.validation_context.trusted_ca.environment_variable: is not supported yet`],
    [tlsSocket({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "C" }, private_key: { inline_string: "K" }, password: { inline_string: "p" } }] } }),
      `${base}.common_tls_context.tls_certificates[0].password: is not supported yet`],
    [tlsSocket({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "C" } }] } }),
      `${base}.common_tls_context.tls_certificates[0].private_key: is required`],
    [tlsSocket({ common_tls_context: { tls_certificates: [1, 2].map(() => ({ certificate_chain: { inline_string: "C" }, private_key: { inline_string: "K" } })) } }),
      `${base}.common_tls_context.tls_certificates: more than one client certificate is not supported yet (got 2)`],
    [tlsSocket({ common_tls_context: { key_log: {} } }), `${base}.common_tls_context.key_log: is not supported yet`],
    [{ transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts" } } },
      `${base}.@type: "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts" is not supported yet (supported: ${TLS_TYPE}, type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer)`],
    [{ transport_socket: { name: "envoy.transport_sockets.tls" } }, `${base}: is required (an UpstreamTlsContext: "@type": "${TLS_TYPE}")`],
    [{ transport_socket_matches: [] }, "transport_socket_matches: is not supported yet"],
  ];
  for (const [raw, line] of cases) {
    const { m, lines } = parse(raw);
    assert.deepEqual(lines, [line], JSON.stringify(raw));
    assert.equal(m, undefined);
  }
});
