/**
 * /proc/PID/stat, parsed. The command name (field 2) is in parentheses and may itself hold
 * spaces and parentheses, so fields are counted from the last ')'.
 */
interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), T... */
  state: string;
  /** Field 22: start time in clock ticks since boot, as text (compared, never computed with). */
  startTime: string;
}

export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const state = rest[0];
  if (!state) return undefined;
  return { state, startTime: rest[19] ?? '' };
}
