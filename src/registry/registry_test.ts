import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import "../config/extensions.ts";
import { findByName, findByTypeUrl, listConfigExtensions, registerConfigExtension } from "./registry.ts";

test("the built-in extensions are registered by name and by @type", () => {
  const hcm = findByTypeUrl("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  assert.equal(hcm?.name, "envoy.filters.network.http_connection_manager");
  assert.equal(hcm?.category, "network_filter");
  assert.equal(hcm?.terminal, true);
  assert.equal(findByName("envoy.filters.http.router")?.typeUrls[0], "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router");
  assert.equal(findByName("envoy.access_loggers.file")?.category, "access_logger");
  assert.equal(findByTypeUrl("type.googleapis.com/nope"), undefined);
  assert.ok(listConfigExtensions().length >= 5);
});

test("registering a taken name or @type URL throws", () => {
  const ext = { name: "legate.test.dup", typeUrls: ["type.googleapis.com/legate.test.Dup"], category: "http_filter" as const, parseConfig: () => ({}) };
  registerConfigExtension(ext);
  assert.equal(findByName("legate.test.dup"), ext);
  assert.throws(() => registerConfigExtension(ext), /already registered/);
  assert.throws(
    () => registerConfigExtension({ ...ext, name: "legate.test.other", typeUrls: ["type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"] }),
    /already registered by envoy.filters.http.router/,
  );
});
