/**
 * Registers the runtime half of `envoy.filters.network.http_connection_manager`.
 */
import type { HcmModel } from "../../../config/model.ts";
import { HcmConfig } from "../../../http/conn_manager/hcm_config.ts";
import { HttpConnectionManager } from "../../../http/conn_manager/conn_manager.ts";
import { registerNetworkFilterRuntime } from "../../../network/filter.ts";
import "../../http/router/filter.ts";
import "../../http/all.ts";

/** The HCM's @type URL. */
export const HCM_TYPE_URL =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

registerNetworkFilterRuntime({
  name: "envoy.filters.network.http_connection_manager",
  typeUrls: [HCM_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new HcmConfig(config as HcmModel, ctx);
    return (conn) => new HttpConnectionManager(conn, shared);
  },
});
