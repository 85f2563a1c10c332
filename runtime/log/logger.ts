// Levelled, structured logs (pino). `json` writes one JSON object a line (the DaemonSet, log
// collectors); `text` writes "<time> <message> key=value…" for a terminal. Fields ride beside the
// message, so a collector can filter on them without parsing the text.
import { pino } from "pino";
import { formatTextLine } from "./text-format.ts";

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];
export const logFormats = ["text", "json"] as const;
export type LogFormat = (typeof logFormats)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** The same logger with `fields` on every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go (default stdout). Each call gets one whole line ending in "\n". */
  write?: (line: string) => void;
}

function wrap(p: pino.Logger): Logger {
  const at =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (fields) p[level](fields, message);
      else p[level](message);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (fields) => wrap(p.child(fields)),
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const stream = {
    write: options.format === "json" ? write : (line: string) => write(formatTextLine(line)),
  };
  return wrap(
    pino(
      {
        level: options.level,
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      stream,
    ),
  );
}

/** A logger over a plain line function (tests, embedders that pass `log`): the message only, no fields. */
export function lineLogger(line: (text: string) => void): Logger {
  const say = (message: string): void => line(message);
  const logger: Logger = { debug: () => {}, info: say, warn: say, error: say, child: () => logger };
  return logger;
}

/**
 * The level a plain log line (from code that logs through `(line) => void`) deserves, judged by the
 * prefixes the project uses: "warning:", "problem:", "rejected:" are warnings; "… failed" errors.
 */
export function levelOfLine(line: string): LogLevel {
  if (/^(warning|problem|rejected)\b/.test(line) || /: warning: /.test(line)) return "warn";
  if (/\bfailed\b/.test(line) && !/^resolved:/.test(line)) return "error";
  return "info";
}

/** A `(line) => void` for the parts that log plain lines, levelled by `levelOfLine`. */
export function lineFunction(logger: Logger): (line: string) => void {
  return (line) => logger[levelOfLine(line)](line);
}
