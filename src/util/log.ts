// SPDX-License-Identifier: MIT
// log.ts — the logger interface the project writes to (a pino-compatible subset) and a default.
//
// One JSON object per line on stderr: {level, time, msg, ...fields}. Faults and recoveries are
// single lines with their figures as fields. `PHOENIX_LOG=silent|error|warn|info|debug`.
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  child(bindings: object): Logger;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
type Level = keyof typeof LEVELS;

export function createLogger(bindings: object = {}, level: Level = (process.env.PHOENIX_LOG as Level | undefined) ?? 'info', sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const emit = (lv: Exclude<Level, 'silent'>, obj: object, msg: string): void => {
    if (LEVELS[lv] < min) return;
    sink(JSON.stringify({ level: lv, time: Date.now(), ...bindings, ...obj, msg }));
  };
  return {
    debug: (o, m) => emit('debug', o, m),
    info: (o, m) => emit('info', o, m),
    warn: (o, m) => emit('warn', o, m),
    error: (o, m) => emit('error', o, m),
    child: (b) => createLogger({ ...bindings, ...b }, level, sink),
  };
}

/** A logger that keeps lines in memory (tests assert on logged reasons). */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const l = createLogger({}, 'debug', (s) => lines.push(JSON.parse(s) as Record<string, unknown>));
  return Object.assign(l, { lines });
}
