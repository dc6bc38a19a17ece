/**
 * `envoy.filters.http.header_mutation` (worker side): applies the configured request mutations
 * in decodeHeaders and response mutations in encodeHeaders, in config order.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/header_mutation_filter
 */
import {
  type FilterStatus,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type ResponseHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import type { HeaderMap } from "../../../http/header_map.ts";
import { applyHeaderMutations, CompiledHeaderMutations, type HeaderFormatInput } from "../../../router/header_formatter.ts";
import { CompiledStringMatcher } from "../../../router/route_table.ts";
import { HEADER_MUTATION_TYPE_URL, type HeaderMutationFilterModel, type MutationModel } from "./config.ts";

/** One compiled mutation step. */
type Step =
  | { readonly kind: 0; readonly name: string }
  | { readonly kind: 1; readonly add: CompiledHeaderMutations }
  | { readonly kind: 2; readonly matcher: CompiledStringMatcher };

const NONE: readonly string[] = [];

function compile(ms: readonly MutationModel[]): Step[] {
  return ms.map((m): Step => {
    if (m.kind === "remove") return { kind: 0, name: m.name };
    if (m.kind === "append") {
      return { kind: 1, add: new CompiledHeaderMutations({ requestHeadersToAdd: [m.header], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] }) };
    }
    return { kind: 2, matcher: new CompiledStringMatcher(m.matcher) };
  });
}

function run(steps: readonly Step[], h: HeaderMap, x: HeaderFormatInput): void {
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    if (s.kind === 0) h.remove(s.name);
    else if (s.kind === 1) applyHeaderMutations(h, NONE, s.add.requestAdd, x);
    else {
      // remove_on_match: every header whose name matches (pseudo-headers and host are not in the map).
      let names: string[] | null = null;
      for (let j = 0; j < h.size; j++) if (s.matcher.match(h.nameAt(j))) (names ??= []).push(h.nameAt(j));
      if (names !== null) for (let j = 0; j < names.length; j++) h.remove(names[j]!);
    }
  }
}

class Shared {
  readonly request: readonly Step[];
  readonly response: readonly Step[];
  constructor(m: HeaderMutationFilterModel) {
    this.request = compile(m.request);
    this.response = compile(m.response);
  }
}

class HeaderMutationFilter implements StreamFilter {
  constructor(readonly cb: StreamCallbacks, readonly shared: Shared) {}

  decodeHeaders(req: RequestHeaders, _endStream: boolean): FilterStatus {
    if (this.shared.request.length > 0) run(this.shared.request, req.headers, { info: this.cb.streamInfo, req, resp: null, upstreamHost: "" });
    return "continue";
  }

  encodeHeaders(resp: ResponseHeaders, _endStream: boolean): FilterStatus {
    if (this.shared.response.length > 0) {
      run(this.shared.response, resp.headers, { info: this.cb.streamInfo, req: this.cb.request, resp, upstreamHost: this.cb.streamInfo.upstreamHost });
    }
    return "continue";
  }

  onDestroy(): void {}
}

registerHttpFilterRuntime({
  name: "envoy.filters.http.header_mutation",
  typeUrls: [HEADER_MUTATION_TYPE_URL],
  createFilterFactory(config) {
    const shared = new Shared(config as HeaderMutationFilterModel);
    return (cb) => new HeaderMutationFilter(cb, shared);
  },
});
