/**
 * Config of `envoy.filters.http.header_mutation` (control side): ordered request and response
 * header mutations (`remove`, `append` with Envoy's header value formatting, `remove_on_match`).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/header_mutation_filter
 */
import * as v from "valibot";
import type { HeaderValueOptionModel, StringMatcherModel } from "../../../config/model.ts";
import { buildHeaderValueOptions, parseStringMatcher } from "../../../config/route.ts";
import { any, bool, isMapping, list, message, parseWith, str } from "../../../config/schema.ts";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../../../registry/registry.ts";

/** The HeaderMutation `@type` URL. */
export const HEADER_MUTATION_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";

/** One mutation, in config order. */
export type MutationModel =
  | { readonly kind: "remove"; readonly name: string }
  | { readonly kind: "append"; readonly header: HeaderValueOptionModel }
  | { readonly kind: "remove_on_match"; readonly matcher: StringMatcherModel };

/** The header mutation filter's frozen model. */
export interface HeaderMutationFilterModel {
  readonly request: readonly MutationModel[];
  readonly response: readonly MutationModel[];
}

const mutationsSchema = message(
  { request_mutations: v.optional(list, []), response_mutations: v.optional(list, []) },
  { unsupported: ["query_parameter_mutations", "request_trailers_mutations", "response_trailers_mutations"] },
);

const mutationSchema = message(
  { remove: v.optional(str({ nonEmpty: true })), append: v.optional(any), remove_on_match: v.optional(message({ key_matcher: any })) },
  { oneofs: [{ members: ["remove", "append", "remove_on_match"], supported: ["remove", "append", "remove_on_match"], required: true }] },
);

const schema = message({ mutations: v.optional(mutationsSchema), most_specific_header_mutations_wins: v.optional(bool(), false) });

function parseList(raw: unknown[], ctx: ParseContext, rel: string): MutationModel[] | undefined {
  const out: MutationModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const at = `${rel}[${i}]`;
    const m = parseWith(ctx, mutationSchema, item, at);
    if (!m) {
      ok = false;
      return;
    }
    if (m.remove !== undefined) {
      const name = m.remove.toLowerCase();
      if (name.startsWith(":") || name === "host") {
        ctx.issue(`${at}.remove`, `${JSON.stringify(name)}: pseudo-headers and host cannot be removed`);
        ok = false;
      } else out.push({ kind: "remove", name });
    } else if (m.append !== undefined) {
      const h = buildHeaderValueOptions([m.append], ctx, `${at}.append`);
      if (h) out.push({ kind: "append", header: h[0]! });
      else ok = false;
    } else {
      const sm = parseStringMatcher(m.remove_on_match!.key_matcher, ctx, `${at}.remove_on_match.key_matcher`);
      if (sm) out.push({ kind: "remove_on_match", matcher: sm });
      else ok = false;
    }
  });
  return ok ? out : undefined;
}

/** Control side: the header mutation filter config extension. */
export const headerMutationExtension: ConfigExtension<HeaderMutationFilterModel> = {
  name: "envoy.filters.http.header_mutation",
  typeUrls: [HEADER_MUTATION_TYPE_URL],
  category: "http_filter",
  parseConfig(json, ctx) {
    const m = parseWith(ctx, schema, json);
    const raw = isMapping(json) && isMapping(json.mutations) ? json.mutations : {};
    const request = parseList(Array.isArray(raw.request_mutations) ? raw.request_mutations : [], ctx, "mutations.request_mutations");
    const response = parseList(Array.isArray(raw.response_mutations) ? raw.response_mutations : [], ctx, "mutations.response_mutations");
    if (!m || !request || !response) return undefined;
    return Object.freeze({ request, response });
  },
};

registerConfigExtension(headerMutationExtension);
