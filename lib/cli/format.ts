// Human output for the command line: aligned tables and compact values.

/** Renders rows as an aligned text table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** A value in one line: strings as they are, everything else as JSON (with BigInt, Map... readable). */
export function compact(value: unknown, maxLength = 60): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value === undefined) text = 'undefined';
  else if (value instanceof Error) text = `${value.name}: ${value.message}`;
  else {
    try {
      text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item instanceof Map ? Object.fromEntries(item) : item instanceof Set ? [...item] : item));
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** An epoch-ms time as ISO text, or '-'. */
export function time(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined) return '-';
  const date = new Date(epochMs);
  // A damaged timestamp shows as it is stored, rather than failing the listing of every other row.
  return Number.isNaN(date.getTime()) ? `invalid time (${String(epochMs)})` : date.toISOString();
}

/**
 * JSON for --json output: BigInt as string, Map/Set as objects/arrays, Errors by name and message.
 * Indented by `indent` spaces; 0 for one line.
 */
export function toJson(value: unknown, indent = 2): string {
  // JSON has no undefined: a value that is undefined (a stream value, an event's) prints as null.
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return item.toString();
    if (item instanceof Map) return Object.fromEntries(item);
    if (item instanceof Set) return [...item];
    if (item instanceof Error) return { name: item.name, message: item.message, ...(item as unknown as Record<string, unknown>) };
    return item;
  }, indent) ?? 'null';
}
