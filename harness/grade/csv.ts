// CSV as spreadsheets write and read it (RFC 4180): comma-separated, fields with a comma, a
// quote or a line break in double quotes, quotes doubled.

export interface CsvRow {
  /** 1-based line where the row starts, for messages. */
  line: number
  fields: string[]
}

export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = []
  let fields: string[] = []
  let field = ''
  let quoted = false
  let line = 1
  let rowLine = 1
  const endRow = () => {
    fields.push(field)
    if (fields.length > 1 || fields[0]!.trim() !== '') rows.push({ line: rowLine, fields })
    fields = []
    field = ''
  }
  const body = text.replace(/^\uFEFF/, '')
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') { field += '"'; i++ }
      else if (c === '"') quoted = false
      else {
        if (c === '\n') line++
        field += c
      }
    } else if (c === '"' && field.trim() === '') {
      quoted = true
      field = ''
    } else if (c === ',') {
      fields.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++
      endRow()
      line++
      rowLine = line
    } else {
      field += c
    }
  }
  if (quoted) throw new Error(`${rowLine}: a quoted field opens on this line and is never closed`)
  if (field !== '' || fields.length) endRow()
  return rows
}

export function csvField(value: string | number): string {
  const s = String(value)
  return /[",\n\r]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function formatCsv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n'
}
