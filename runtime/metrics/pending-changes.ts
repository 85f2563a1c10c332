// kube-proxy's pending-change gauges (pkg/proxy/metrics, endpointschangetracker.go and
// servicechangetracker.go): Service changes pending are the Services changed since the last sync took
// its snapshot (one per Service, however many events it had); EndpointSlice changes pending are the
// EndpointSlice events since then (kube-proxy counts each event). Both drop to 0 when a sync takes
// its snapshot, as kube-proxy's do when it checks the changes out.

export interface ChangeEvent {
  kind: string;
  key?: string;
}

export class PendingChanges {
  private readonly services = new Set<string>();
  private endpointEvents = 0;

  note(events: readonly ChangeEvent[]): void {
    for (const e of events) {
      if (e.kind === "Service") this.services.add(e.key ?? "");
      else if (e.kind === "EndpointSlice") this.endpointEvents++;
    }
  }

  /** A sync took its snapshot: everything noted so far is in it. */
  checkedOut(): void {
    this.services.clear();
    this.endpointEvents = 0;
  }

  get serviceChanges(): number {
    return this.services.size;
  }

  get endpointChanges(): number {
    return this.endpointEvents;
  }
}
