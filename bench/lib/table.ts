/** Prints benchmark results as Markdown tables, so they can be pasted into BENCHMARKS.md. */

/** Prints one line to standard output. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** Prints a Markdown table whose columns are as wide as their widest cell. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((header, column) =>
    Math.max(header.length, 3, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    `| ${widths.map((width, column) => (cells[column] ?? '').padEnd(width)).join(' | ')} |`
  say(line(headers))
  say(`| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`)
  for (const row of rows) say(line(row))
  say()
}

/** Prints a target check: the measured figure, the target and whether the run met it. */
export function printTarget(name: string, measured: string, target: string, met: boolean): void {
  say(`${met ? 'MET   ' : 'MISSED'} ${name}: ${measured} (target ${target})`)
}
