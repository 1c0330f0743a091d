// Calendar dates as YYYYMMDD strings (UTC), the unit of RAW and curated partitions.

export function addDays(date: string, days: number): string {
  const d = new Date(Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8)) + days))
  return d.toISOString().slice(0, 10).replaceAll('-', '')
}

/** Every calendar date from `from` through `to`, both included. */
export function dateRange(from: string, to: string): string[] {
  const out: string[] = []
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d)
  return out
}

export function dateOfMillis(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '')
}

/** `2024-06-12 10:30:25.104667` → `20240612`; undefined when the text does not start with a date. */
export function dateOfText(s: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s)
  return m ? `${m[1]}${m[2]}${m[3]}` : undefined
}
