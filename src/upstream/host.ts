/**
 * An upstream host (endpoint) as the control side describes it; shared read-only with workers.
 */

/** One endpoint of a cluster (immutable; a changed endpoint is a new Host). */
export class Host {
  /** "ip:port" (IPv6 in brackets), as Envoy prints it in stats and logs. */
  readonly addressString: string;
  constructor(readonly address: string, readonly port: number, readonly weight: number) {
    this.addressString = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  }
}
