// Renders a transaction as libnftables JSON for `nft -j -f -`. The model already is that JSON, so
// this only wraps objects in commands. `commandOps[i]` is the index of the operation that produced
// command i (a chain added with its rules is several commands), to name the failing operation.
import type { DesiredChain, DesiredRule, DesiredSet } from "./desired.ts";
import type { Expression, Family, SetElement } from "./model.ts";
import { normalizeElement, normalizeRule } from "./normalize.ts";
import { priorityNumber } from "./render-text.ts";
import type { Operation, Transaction } from "./transaction.ts";

type JsonCommand = Record<string, Record<string, unknown>>;

function chainJson(chain: DesiredChain, family: Family, table: string): Record<string, unknown> {
  const out: Record<string, unknown> = { family, table, name: chain.name };
  if (chain.base) {
    out.type = chain.base.type;
    out.hook = chain.base.hook;
    out.prio = priorityNumber(chain.base.priority);
    if (chain.base.policy) out.policy = chain.base.policy;
    if (chain.base.device !== undefined) out.dev = chain.base.device;
  }
  if (chain.comment !== undefined) out.comment = chain.comment;
  return out;
}

function ruleJson(rule: DesiredRule, family: Family, table: string, chain: string): Record<string, unknown> {
  const n = normalizeRule(rule, family);
  const out: Record<string, unknown> = { family, table, chain, expr: n.expr };
  if (n.comment !== undefined) out.comment = n.comment;
  return out;
}

function setJson(set: DesiredSet, family: Family, table: string): Record<string, unknown> {
  const out: Record<string, unknown> = { family, table, name: set.name, type: set.type };
  if (set.map !== undefined) out.map = set.map;
  // nft 1.0.6's JSON parser knows no "dynamic" flag; nft sets it itself on a set that a rule updates.
  const flags = set.flags?.filter((f) => f !== "dynamic");
  if (flags?.length) out.flags = flags;
  if (set.timeout !== undefined) out.timeout = set.timeout;
  if (set.size !== undefined) out.size = set.size;
  if (set.comment !== undefined) out.comment = set.comment;
  return out;
}

function elementJson(raw: SetElement, keyOnly = false): unknown {
  const el = normalizeElement(raw);
  const key: Expression =
    !keyOnly && (el.timeout !== undefined || el.comment !== undefined)
      ? {
          elem: {
            val: el.key,
            ...(el.timeout !== undefined ? { timeout: el.timeout } : {}),
            ...(el.comment !== undefined ? { comment: el.comment } : {}),
          },
        }
      : el.key;
  return keyOnly || el.value === undefined ? key : [key, el.value];
}

function operationJson(op: Operation, family: Family, table: string): JsonCommand[] {
  switch (op.kind) {
    case "table":
      return [
        {
          [op.verb]: {
            table: { family, name: table, ...(op.comment !== undefined ? { comment: op.comment } : {}) },
          },
        },
      ];
    case "chain": {
      if ("name" in op) return [{ [op.verb]: { chain: { family, table, name: op.name } } }];
      const cmds: JsonCommand[] = [{ [op.verb]: { chain: chainJson(op.chain, family, table) } }];
      if (op.withRules)
        for (const rule of op.chain.rules)
          cmds.push({ add: { rule: ruleJson(rule, family, table, op.chain.name) } });
      return cmds;
    }
    case "rule": {
      if (op.verb === "delete")
        return [{ delete: { rule: { family, table, chain: op.chain, handle: op.handle } } }];
      const rule = ruleJson(op.rule, family, table, op.chain);
      if (op.handle !== undefined) rule.handle = op.handle;
      return [{ [op.verb]: { rule } }];
    }
    case "set":
    case "map":
      if ("name" in op) return [{ [op.verb]: { [op.kind]: { family, table, name: op.name } } }];
      return [{ [op.verb]: { [op.kind]: setJson(op.set, family, table) } }];
    case "element":
      return [
        {
          [op.verb]: {
            element: {
              family,
              table,
              name: op.set,
              elem: op.elements.map((e) => elementJson(e, op.verb === "delete")),
            },
          },
        },
      ];
  }
}

/**
 * Adjusts the model to what nft 1.0.6's JSON parser reads: `ct original ip daddr` is key "ip daddr"
 * with no family member, and a flag list (`ct state established,related`) needs op "in" (with "=="
 * it becomes an exact match of all flags at once).
 */
function nftJsonReplacer(key: string, value: unknown): unknown {
  if (key === "match" && value !== null && typeof value === "object") {
    const m = value as { op: string; right: unknown };
    if (m.op === "==" && Array.isArray(m.right)) return { ...m, op: "in" };
  }
  if (key === "ct" && value !== null && typeof value === "object" && "family" in value) {
    const { family, key: ctKey, ...rest } = value as { family: string; key: string };
    return { key: `${family} ${ctKey}`, ...rest };
  }
  return value;
}

export function renderJson(tx: Transaction): { text: string; commandOps: number[] } {
  const commands: JsonCommand[] = [];
  const commandOps: number[] = [];
  tx.ops.forEach((op, i) => {
    for (const cmd of operationJson(op, tx.family, tx.table)) {
      commands.push(cmd);
      commandOps.push(i);
    }
  });
  return { text: JSON.stringify({ nftables: commands }, nftJsonReplacer), commandOps };
}
