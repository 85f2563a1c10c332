// The node's zone follows its Node object unless --node-zone sets it; a change re-plans.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ZoneFollowingPlanner } from "../../runtime/agent/node-zone.ts";
import type { Snapshot } from "../../runtime/store/objects.ts";
import { port, service, slice } from "../services/fixtures.ts";

const config = {
  nodeName: "n1",
  nodeIPs: ["10.250.0.1"],
  clusterCIDRs: [],
  serviceCIDRs: [],
  masqueradeAll: false,
};
const svc = service("default", "web", { clusterIPs: ["10.96.0.10"], ports: [port("http", "TCP", 80, 8080)] });

function world(zone?: string): Snapshot {
  const s = slice(svc, ["10.1.0.1"]);
  return {
    services: new Map([["default/web", svc]]),
    endpointSlices: new Map([[`default/${s.name}`, s]]),
    nodes: new Map([
      ["n1", { name: "n1", addresses: ["10.250.0.1"], podCIDRs: [], ...(zone ? { zone } : {}) }],
    ]),
    namespaces: new Map(),
    pods: new Map(),
  };
}

test("the zone comes from the Node object, follows its changes, and --node-zone wins", () => {
  const planner = new ZoneFollowingPlanner(config);
  assert.is(planner.lbRequests(world())[0].nodeZone, undefined);
  assert.is(planner.lbRequests(world("zone-a"))[0].nodeZone, "zone-a");
  assert.is(planner.nodeZone, "zone-a");
  assert.is(planner.lbRequests(world("zone-b"))[0].nodeZone, "zone-b");
  const pinned = new ZoneFollowingPlanner({ ...config, nodeZone: "zone-c" });
  assert.is(pinned.lbRequests(world("zone-a"))[0].nodeZone, "zone-c");
});

test.run();
