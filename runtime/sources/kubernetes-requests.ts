// How the Kubernetes source talks to the API server, kept apart from the informer bookkeeping:
// paginated lists (limit/continue, as client-go's pager), watches with bookmarks and a jittered
// timeout (as client-go's reflector), jittered retry delays, and one short, stable description of a
// failure (so that a problem that persists reads the same on every retry and is logged once).
import type { KubernetesListObject, KubernetesObject, Watch } from "@kubernetes/client-node";

export type ObjectList = KubernetesListObject<KubernetesObject>;

/** One page of a collection; `_continue` is the token of the previous page. */
export type PageLister = (page: { limit?: number; _continue?: string }) => Promise<ObjectList>;

/** client-go's pager default. */
export const defaultPageSize = 500;
const maxPages = 100_000;

function isGone(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  return e?.code === 410 || e?.statusCode === 410;
}

/** The list's continue token: typed clients call it `_continue`, raw (custom object) lists `continue`. */
function continueToken(list: ObjectList): string | undefined {
  const metadata = list.metadata as { _continue?: string; continue?: string } | undefined;
  return metadata?._continue || metadata?.continue || undefined;
}

/**
 * Lists a whole collection in pages of `pageSize`. Every page is from the first page's snapshot, so
 * the result carries one resourceVersion to watch from. When a continue token expires between pages
 * (410), the list starts over as one unpaginated request, as client-go's pager does.
 */
export async function listAllPages(listPage: PageLister, pageSize = defaultPageSize): Promise<ObjectList> {
  const items: KubernetesObject[] = [];
  let token: string | undefined;
  for (let pages = 0; pages < maxPages; pages++) {
    let page: ObjectList;
    try {
      page = await listPage(token ? { limit: pageSize, _continue: token } : { limit: pageSize });
    } catch (err) {
      if (token && isGone(err)) return listPage({});
      throw err;
    }
    items.push(...(page.items ?? []));
    token = continueToken(page);
    if (!token) return { ...page, items };
  }
  throw new Error(`list did not end after ${maxPages} pages`);
}

/** The part of client-node's Watch the informer uses. */
type WatchFn = Watch["watch"];

/**
 * A Watch that asks for bookmarks (the resourceVersion stays fresh, so a reconnect rarely needs a
 * relist) and a server-side timeout of 5-10 minutes (spreads re-watches, as client-go), and reports
 * each watch that the server accepted through `onEstablished`.
 */
export function bookmarkingWatch(inner: Watch, onEstablished: () => void, random = Math.random): Watch {
  const watch: WatchFn = async (path, queryParams, callback, done) => {
    let failed = false;
    const controller = await inner.watch(
      path,
      {
        ...queryParams,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.floor(300 * (1 + random())),
      },
      callback,
      (err) => {
        if (err) failed = true;
        done(tagVerb(err, "watch"));
      },
    );
    if (!failed) onEstablished();
    return controller;
  };
  return { watch } as Watch;
}

/** Marks which request failed, so that the problem names the verb (RBAC grants are per verb). */
export function tagVerb<T>(err: T, verb: "list" | "watch"): T {
  if (typeof err === "object" && err !== null && !("verb" in err)) Object.assign(err, { verb });
  return err;
}

/**
 * Exponential backoff with jitter: the n-th consecutive failure waits between half and all of
 * base·2^(n-1), capped at `max`, so agents restarted together do not retry in lockstep.
 */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export interface FailureReason {
  /** The request that failed, when known. */
  verb?: "list" | "watch";
  /** The HTTP status, when the API server answered. */
  status?: number;
  /** Short and stable across retries (no request paths, no headers). */
  text: string;
}

function statusMessage(body: unknown): string | undefined {
  const parsed = typeof body === "string" ? safeJson(body) : body;
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === "string" && message !== "" ? message : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What went wrong with a list or watch, without the parts that change from one attempt to the next. */
export function describeFailure(err: unknown): FailureReason {
  const e = (err ?? {}) as {
    code?: unknown;
    statusCode?: unknown;
    body?: unknown;
    message?: unknown;
    verb?: unknown;
  };
  const verb: Pick<FailureReason, "verb"> = e.verb === "list" || e.verb === "watch" ? { verb: e.verb } : {};
  const status =
    typeof e.code === "number" ? e.code : typeof e.statusCode === "number" ? e.statusCode : undefined;
  const message = typeof e.message === "string" ? e.message : String(err);
  if (status !== undefined) {
    const detail = statusMessage(e.body) ?? (message.startsWith("HTTP-Code:") ? undefined : message);
    return { ...verb, status, text: `HTTP ${status}${detail ? `: ${detail}` : ""}` };
  }
  // node-fetch: "request to http://host/path?query failed, reason: connect ECONNREFUSED 127.0.0.1:6443"
  const reason = /, reason: (.*)$/s.exec(message)?.[1];
  return { ...verb, text: reason ?? message };
}
