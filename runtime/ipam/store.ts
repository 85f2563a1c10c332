// The durable allocation store: an append-only journal of JSON lines, fsynced before a commit
// returns, so an address is on disk before ADD answers and a release is on disk before DEL does.
// Each commit is one line written with one write(2): a line cut short by a crash is the tail of the
// file, is dropped on open (that commit never returned), and the file is truncated back to the last
// whole line. The journal is rewritten (temporary file, fsync, rename, fsync of the directory) when
// it grows far beyond the live allocations.
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { canonicalIp, ipFamily } from "../net/cidr.ts";
import type { IpamAllocation } from "./decider.ts";

type JournalRecord =
  | { op: "add"; allocs: IpamAllocation[] }
  | { op: "release"; ips: string[] }
  | { op: "last"; v4?: string; v6?: string };

export interface StoreOptions {
  /** fsync every commit (default true). Off only for benchmarks of the decision rate. */
  fsync?: boolean;
  /** Rewrite the journal when it holds more than this many records and 4× the live allocations. */
  compactAfter?: number;
}

export const JOURNAL_NAME = "allocations.journal";

export class AllocationStore {
  private readonly byIp = new Map<string, IpamAllocation>();
  private readonly lastAllocatedByFamily: { v4?: string; v6?: string } = {};
  private fd: number;
  private records = 0;
  private readonly path: string;
  private readonly fsync: boolean;
  private readonly compactAfter: number;

  private constructor(
    private readonly dir: string,
    options: StoreOptions,
  ) {
    this.path = join(dir, JOURNAL_NAME);
    this.fsync = options.fsync ?? true;
    this.compactAfter = options.compactAfter ?? 2048;
    mkdirSync(dir, { recursive: true });
    this.fd = openSync(this.path, "a+");
    this.replay();
  }

  /** Opens (or creates) the store in `dir`, replaying its journal. */
  static open(dir: string, options: StoreOptions = {}): AllocationStore {
    return new AllocationStore(dir, options);
  }

  private replay(): void {
    const text = readFileSync(this.path, "utf8");
    const end = text.lastIndexOf("\n") + 1;
    if (end < text.length) {
      // The last commit was cut short by a crash before it returned: drop it.
      ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, end)));
      if (this.fsync) fsyncSync(this.fd);
    }
    const lines = text.slice(0, end).split("\n");
    lines.pop();
    lines.forEach((line, i) => {
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch (err) {
        throw new Error(`${this.path}: line ${i + 1} is not JSON: ${(err as Error).message}`);
      }
      this.apply(record);
    });
    if (lines.length === 0) this.syncDirectory();
  }

  private apply(record: JournalRecord): void {
    this.records++;
    if (record.op === "add") {
      for (const a of record.allocs) {
        const ip = canonicalIp(a.ip);
        this.byIp.set(ip, { ...a, ip });
        if (ipFamily(ip) === 4) this.lastAllocatedByFamily.v4 = ip;
        else this.lastAllocatedByFamily.v6 = ip;
      }
    } else if (record.op === "release") {
      for (const ip of record.ips) this.byIp.delete(canonicalIp(ip));
    } else if (record.op === "last") {
      if (record.v4) this.lastAllocatedByFamily.v4 = record.v4;
      if (record.v6) this.lastAllocatedByFamily.v6 = record.v6;
    }
  }

  private append(record: JournalRecord): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
    if (this.fsync) fsyncSync(this.fd);
    this.apply(record);
    if (this.records > this.compactAfter && this.records > 4 * this.byIp.size) this.compact();
  }

  private syncDirectory(): void {
    if (!this.fsync) return;
    const dirFd = openSync(this.dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  /** Rewrites the journal as the live allocations only. */
  compact(): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      const records: JournalRecord[] = [
        { op: "last", ...this.lastAllocatedByFamily },
        { op: "add", allocs: [...this.byIp.values()] },
      ];
      writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.syncDirectory();
    closeSync(this.fd);
    this.fd = openSync(this.path, "a+");
    this.records = 2;
  }

  list(): IpamAllocation[] {
    return [...this.byIp.values()];
  }

  get size(): number {
    return this.byIp.size;
  }

  lastAllocated(): { v4?: string; v6?: string } {
    return { ...this.lastAllocatedByFamily };
  }

  holder(ip: string): IpamAllocation | undefined {
    return this.byIp.get(canonicalIp(ip));
  }

  forAttachment(containerId: string, ifName: string): IpamAllocation[] {
    return this.list().filter((a) => a.containerId === containerId && a.ifName === ifName);
  }

  /** Records new allocations durably. An address already held by another attachment is an error. */
  commitAllocations(allocs: IpamAllocation[]): void {
    for (const a of allocs) {
      const held = this.byIp.get(canonicalIp(a.ip));
      if (held && (held.containerId !== a.containerId || held.ifName !== a.ifName))
        throw new Error(
          `IPAM: ${a.ip} is already allocated to container ${held.containerId} (${held.ifName})`,
        );
    }
    if (allocs.length > 0) this.append({ op: "add", allocs });
  }

  /** Releases addresses durably; releasing a free address is a no-op. */
  commitRelease(ips: string[]): void {
    const held = ips.map(canonicalIp).filter((ip) => this.byIp.has(ip));
    if (held.length > 0) this.append({ op: "release", ips: held });
  }

  close(): void {
    closeSync(this.fd);
  }
}
