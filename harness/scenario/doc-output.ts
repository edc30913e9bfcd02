// Compare what a command printed with what the document shows it printing, ignoring what
// legitimately varies between machines: interface indexes, MAC addresses, counters, times,
// column padding. The document's lines must appear in the real output, in order (documents
// elide lines with "..." and cut pings short with ^C).

const VARYING: [RegExp, string][] = [
  [/\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b/gi, '<mac>'],
  [/^\d+: /, '<index>: '],
  [/@if\d+/g, '@if<index>'],
  [/\bfe80::[0-9a-f:]+/gi, '<link-local>'],
  [/time[=<][\d.]+ ?ms/g, 'time=<t>'],
  [/, time \d+ms/g, ''],
  [/\b(RX|TX) packets \d+ +bytes \d+ \([\d.]+ [KMG]?i?B\)/g, '$1 packets <n> bytes <n>'],
  [/\b(errors|dropped|overruns|frame|carrier|collisions) \d+/g, '$1 <n>'],
  [/\blink-netnsid \d+/g, 'link-netnsid <n>'],
  // /proc/PID/cgroup: a cgroup v1 hierarchy's number depends on the order controllers were mounted.
  [/^\d+:(?=[\w,=]*:\/)/, '<hierarchy>:'],
  // /proc/PID/mountinfo: mount ids and the device number are the machine's.
  [/^\d+ \d+ \d+:\d+ (?=\/)/, '<mount> <parent> <dev> '],
  // How many echo requests a ping sent is the reader's choice (^C) or the bound's; the loss
  // percentage after these counts is what the document claims.
  [/^\d+ packets transmitted, \d+ received,/, '<n> packets transmitted, <n> received,'],
]

const SKIPPED_DOC_LINES = /^(\^C|\.\.\.|…)$/

export function normalizeLine(line: string): string {
  let s = line.replace(/\s+$/, '').replace(/^\s+/, '')
  for (const [re, sub] of VARYING) s = s.replace(re, sub)
  return s.replace(/\s+/g, ' ')
}

export interface OutputComparison {
  matches: boolean
  /** The document's lines, each marked found or missing, beside the real output. */
  sideBySide: string
}

/** A ping the document stopped with ^C may show more replies than the bounded run asked for:
 *  those beyond the run's last request are not compared. */
function beyondBoundedPing(documented: string, actual: string): (docLine: string) => boolean {
  const interrupted = documented.split('\n').some((l) => l.trim() === '^C')
  const sent = /^(\d+) packets transmitted/m.exec(actual)
  if (!interrupted || !sent) return () => false
  return (docLine) => Number(/\bicmp_seq=(\d+)/.exec(docLine)?.[1] ?? 0) > Number(sent[1])
}

export function compareWithDocument(documented: string, actual: string): OutputComparison {
  const real = actual.split('\n').map(normalizeLine)
  const beyondRun = beyondBoundedPing(documented, actual)
  let cursor = 0
  let matches = true
  const marked: string[] = []
  for (const docLine of documented.split('\n')) {
    const wanted = normalizeLine(docLine)
    if (!wanted || SKIPPED_DOC_LINES.test(wanted) || /^rtt min\/avg\/max/.test(wanted)) continue
    if (beyondRun(docLine)) {
      marked.push(`  ~ ${docLine.trimEnd()}   (after the bounded ping's last request)`)
      continue
    }
    const found = real.indexOf(wanted, cursor)
    if (found >= 0) {
      cursor = found + 1
      marked.push(`  = ${docLine.trimEnd()}`)
    } else {
      matches = false
      marked.push(`  ≠ ${docLine.trimEnd()}`)
    }
  }
  return {
    matches,
    sideBySide: ['document (= found, ≠ missing, ~ not compared):', ...marked, 'this run:', ...actual.trimEnd().split('\n').map((l) => `    ${l}`)].join('\n'),
  }
}
