// The text format: pino's JSON line turned into "<time> [LEVEL ]<message> key=value…". Info lines
// carry no level word, so they read as they always did; other levels say theirs.

const own = new Set(["time", "level", "msg"]);

function show(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(1);
  return JSON.stringify(value);
}

/** One pino JSON line (with "\n") as one text line (with "\n"); a line that is not JSON passes as is. */
export function formatTextLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const level =
    typeof record.level === "string" && record.level !== "info" ? `${record.level.toUpperCase()} ` : "";
  const fields = Object.entries(record)
    .filter(([key, value]) => !own.has(key) && value !== undefined && value !== null)
    .map(([key, value]) => ` ${key}=${show(value)}`)
    .join("");
  return `${String(record.time)} ${level}${String(record.msg ?? "")}${fields}\n`;
}
