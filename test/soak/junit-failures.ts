// The failed testcases of a JUnit file, one line each ("<testcase name>: <first line of the
// failure message>"), so the soak can say which step of a kept run failed and why.

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1]?.toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : (ENTITIES[e] ?? whole))
}

function attribute(attrs: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)
  return m ? decode(m[1]!) : undefined
}

export function failedTestcases(xml: string): string[] {
  const failed: string[] = []
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? ''
    const failure = /<(failure|error)\b([^>]*)>?/.exec(body)
    if (!failure) continue
    const name = attribute(m[1]!, 'name') ?? '(unnamed testcase)'
    const message = attribute(failure[2]!, 'message') ?? decode(body.replace(/<[^>]+>/g, '')).trim()
    failed.push(`${name}: ${message.split('\n').find((l) => l.trim())?.trim() ?? '(no message)'}`)
  }
  return failed
}
