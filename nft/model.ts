// The typed nftables model: the subset of the libnftables JSON schema (libnftables-json(5)) that
// wasmplane uses. Values of these types are exactly what `nft -j` reads and lists, so the JSON
// renderer is a plain serialisation and read-back is a parse plus normalisation. Build them with the
// small functions in nft/build.ts rather than by hand.

export type Family = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

// ---------------------------------------------------------------------------------------------
// Expressions (right- and left-hand values)

/** A literal: an address ("10.0.0.1"), a symbolic constant ("tcp", "established"), a number. */
export type Immediate = string | number | boolean;

/** A named set or map reference is the string "@name" (see setRef in nft/build.ts). */
export type SetReference = `@${string}`;

export type PayloadProtocol =
  | "ether"
  | "vlan"
  | "arp"
  | "ip"
  | "ip6"
  | "icmp"
  | "icmpv6"
  | "tcp"
  | "udp"
  | "udplite"
  | "sctp"
  | "dccp"
  | "th";

export interface PayloadExpr {
  /** `ip daddr`, `tcp dport`, `th dport` … */
  payload: { protocol: PayloadProtocol; field: string };
}

export type MetaKey =
  | "length"
  | "protocol"
  | "nfproto"
  | "l4proto"
  | "mark"
  | "iif"
  | "iifname"
  | "iiftype"
  | "oif"
  | "oifname"
  | "oiftype"
  | "skuid"
  | "skgid"
  | "pkttype"
  | "priority"
  | "random"
  | "secpath"
  | "ibrname"
  | "obrname";

export interface MetaExpr {
  meta: { key: MetaKey };
}

export type CtKey =
  | "state"
  | "status"
  | "mark"
  | "direction"
  | "expiration"
  | "l3proto"
  | "protocol"
  | "zone"
  | "saddr"
  | "daddr"
  | "proto-src"
  | "proto-dst"
  | "count";

export interface CtExpr {
  /** `ct state`, `ct original ip daddr` (dir + family), `ct status` … */
  ct: { key: CtKey; family?: "ip" | "ip6"; dir?: "original" | "reply" };
}

export interface NumgenExpr {
  numgen: { mode: "inc" | "random"; mod: number; offset?: number };
}

export interface JhashExpr {
  jhash: { mod: number; offset?: number; expr: Expression; seed?: number };
}

export type FibFlag = "saddr" | "daddr" | "mark" | "iif" | "oif";
export interface FibExpr {
  fib: { result: "oif" | "oifname" | "type"; flags: FibFlag[] };
}

export interface ConcatExpr {
  concat: Expression[];
}

/** An anonymous set `{ a, b }`; for an anonymous map its items are `[key, value]` pairs. */
export interface AnonSetExpr {
  set: (Expression | [Expression, Expression | Verdict])[];
}

/** A map lookup `KEY map DATA` where DATA is "@name" or an anonymous map. */
export interface MapLookupExpr {
  map: { key: Expression; data: SetReference | AnonSetExpr };
}

export interface PrefixExpr {
  prefix: { addr: string; len: number };
}

export interface RangeExpr {
  range: [Expression, Expression];
}

/** A set element with per-element options (timeout in seconds, comment). */
export interface ElemExpr {
  elem: { val: Expression; timeout?: number; expires?: number; comment?: string };
}

export type BinaryExpr =
  | { "&": [Expression, Expression] }
  | { "|": [Expression, Expression] }
  | { "^": [Expression, Expression] }
  | { "<<": [Expression, Expression] }
  | { ">>": [Expression, Expression] };

/** A bitmask value as a list of flag names: `ct state established,related`. */
export type FlagList = string[];

export type Expression =
  | Immediate
  | FlagList
  | PayloadExpr
  | MetaExpr
  | CtExpr
  | NumgenExpr
  | JhashExpr
  | FibExpr
  | ConcatExpr
  | AnonSetExpr
  | MapLookupExpr
  | PrefixExpr
  | RangeExpr
  | ElemExpr
  | BinaryExpr;

// ---------------------------------------------------------------------------------------------
// Verdicts (both statements and map data)

export type Verdict =
  | { accept: null }
  | { drop: null }
  | { continue: null }
  | { return: null }
  | { jump: { target: string } }
  | { goto: { target: string } };

// ---------------------------------------------------------------------------------------------
// Statements (the items of a rule)

export type MatchOperator = "==" | "!=" | "<" | ">" | "<=" | ">=" | "in";

export interface MatchStmt {
  match: { op: MatchOperator; left: Expression; right: Expression };
}

/** `counter`; listings carry packets and bytes, which read-back drops. */
export interface CounterStmt {
  counter: null | { packets: number; bytes: number };
}

export interface RejectStmt {
  reject: null | {
    type?: "tcp reset" | "icmp" | "icmpv6" | "icmpx";
    expr?: string;
  };
}

export type NatFlag = "random" | "fully-random" | "persistent" | "netmap";

export interface NatArgs {
  /** Address family of the translated address; required for dnat/snat in an inet table. */
  family?: "ip" | "ip6";
  /** Address, or an expression that yields one (a map lookup for the map form). */
  addr?: Expression;
  /** Port, or an expression that yields one. */
  port?: Expression;
  flags?: NatFlag[];
}

export interface DnatStmt {
  dnat: NatArgs;
}
export interface SnatStmt {
  snat: NatArgs;
}

export interface MasqueradeStmt {
  masquerade: null | { port?: Expression; flags?: NatFlag[] };
}

/** `meta mark set VALUE`, `ct mark set VALUE`. */
export interface MangleStmt {
  mangle: { key: MetaExpr | CtExpr; value: Expression };
}

/** `add @set { elem timeout 10s }` / `update @set { … }` from the packet path. */
export interface SetUpdateStmt {
  set: { op: "add" | "update" | "delete"; elem: Expression; set: SetReference };
}

export type LogLevel = "emerg" | "alert" | "crit" | "err" | "warn" | "notice" | "info" | "debug" | "audit";
export interface LogStmt {
  log: null | {
    prefix?: string;
    level?: LogLevel;
    group?: number;
    snaplen?: number;
    "queue-threshold"?: number;
  };
}

/** `KEY vmap DATA`: a verdict map lookup as a statement. */
export interface VmapStmt {
  vmap: { key: Expression; data: SetReference | AnonSetExpr };
}

export type Statement =
  | MatchStmt
  | CounterStmt
  | RejectStmt
  | DnatStmt
  | SnatStmt
  | MasqueradeStmt
  | MangleStmt
  | SetUpdateStmt
  | LogStmt
  | VmapStmt
  | Verdict;

// ---------------------------------------------------------------------------------------------
// Chains and sets (their declarations; nft/desired.ts holds the objects themselves)

export type ChainType = "filter" | "nat" | "route";
export type ChainHook = "prerouting" | "input" | "forward" | "output" | "postrouting" | "ingress" | "egress";
export type ChainPolicy = "accept" | "drop";

/** Named standard priorities for ip/ip6/inet (see nft(8) "CHAIN PRIORITIES"). */
export type PriorityName = "raw" | "mangle" | "dstnat" | "filter" | "security" | "srcnat";
export type ChainPriority = number | PriorityName | `${PriorityName}${"+" | "-"}${number}`;

export interface BaseChainSpec {
  type: ChainType;
  hook: ChainHook;
  priority: ChainPriority;
  policy?: ChainPolicy;
  /** For the netdev ingress/egress hooks. */
  device?: string;
}

export type SetFlag = "constant" | "interval" | "timeout" | "dynamic";

/** nft data types used for set keys and map values ("verdict" only as a map value). */
export type DataType =
  | "ipv4_addr"
  | "ipv6_addr"
  | "ether_addr"
  | "inet_proto"
  | "inet_service"
  | "mark"
  | "ifname"
  | "iface_index"
  | "verdict"
  /** 32-bit integer, the type of numgen and jhash results (a shared slot map: `numgen … offset N vmap @slots`). */
  | "integer"
  | "ct_state"
  | "nf_proto"
  | "ipv4_addr_prefix";

/** A set element: key (an immediate, concat, prefix or range) and, for maps, a value. */
export interface SetElement {
  key: Expression;
  value?: Expression | Verdict;
  /** Seconds; only in sets with the timeout flag. */
  timeout?: number;
  comment?: string;
}
