// JUnit XML as CI systems read it (GitHub Actions' test reporters, GitLab, Jenkins): one
// <testsuite> per scenario, one <testcase> per step with `classname` the scenario id, `file` the
// scenario file and `line` the step's line in it, so annotations land on the YAML. A failure's
// message is the one-line verdict; a skip carries its reason (`host01: kernel lacks ipip
// (CONFIG_NET_IPIP)`, `blocked by step 7`, `interrupted: …`). The transcript is the
// testcase's <system-out>. junitXml() writes it; parseJunit() reads it back (report merge).

export type JunitOutcome =
  | { status: 'passed' }
  | { status: 'failed' | 'error'; message: string; type?: string; detail: string }
  | { status: 'skipped'; message: string }

export interface JunitCase {
  name: string
  classname: string
  file?: string
  line?: number
  timeS: number
  outcome: JunitOutcome
  systemOut?: string
}

export interface JunitSuite {
  name: string
  file?: string
  timestamp?: string
  properties?: Record<string, string>
  cases: JunitCase[]
}

interface Totals { tests: number; failures: number; errors: number; skipped: number; time: number }

function totals(cases: JunitCase[]): Totals {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.outcome.status === 'failed').length,
    errors: cases.filter((c) => c.outcome.status === 'error').length,
    skipped: cases.filter((c) => c.outcome.status === 'skipped').length,
    time: cases.reduce((t, c) => t + c.timeS, 0),
  }
}

function totalsAttrs(t: Totals): string {
  return `tests="${t.tests}" failures="${t.failures}" errors="${t.errors}" skipped="${t.skipped}" time="${seconds(t.time)}"`
}

export function junitXml(suites: JunitSuite[], name = 'labproof'): string {
  return junitDocument(suites.map(renderSuite), name)
}

/** A suite as XML, with its totals. */
interface RenderedSuite {
  xml: string
  totals: Totals
}

function renderSuite(s: JunitSuite): RenderedSuite {
  const t = totals(s.cases)
  const head = [`name="${attr(s.name)}"`, totalsAttrs(t)]
  if (s.timestamp) head.push(`timestamp="${attr(s.timestamp)}"`)
  if (s.file) head.push(`file="${attr(s.file)}"`)
  const out = [`  <testsuite ${head.join(' ')}>`]
  const props = Object.entries(s.properties ?? {})
  if (props.length) {
    out.push('    <properties>')
    for (const [k, v] of props) out.push(`      <property name="${attr(k)}" value="${attr(v)}"/>`)
    out.push('    </properties>')
  }
  for (const c of s.cases) out.push(testcaseXml(c))
  out.push('  </testsuite>')
  return { xml: out.join('\n'), totals: t }
}

function junitDocument(suites: RenderedSuite[], name: string): string {
  return [documentHead(suites, name), ...suites.map((s) => s.xml), '</testsuites>', ''].join('\n')
}

/** A suite as XML already encoded: a writer that rewrites the file after every step
 *  (junit-reporter.ts) joins bytes, and encodes only the suites that changed. */
export interface EncodedSuite {
  bytes: Buffer
  totals: Totals
}

export function encodedSuite(s: JunitSuite): EncodedSuite {
  const { xml, totals: t } = renderSuite(s)
  return { bytes: Buffer.from(`${xml}\n`), totals: t }
}

/** junitXml()'s document, as bytes, of suites already encoded. */
export function junitBytes(suites: EncodedSuite[], name = 'labproof'): Buffer {
  return Buffer.concat([Buffer.from(`${documentHead(suites, name)}\n`), ...suites.map((s) => s.bytes), Buffer.from('</testsuites>\n')])
}

function documentHead(suites: { totals: Totals }[], name: string): string {
  const all = suites.reduce((a, { totals: t }) => ({
    tests: a.tests + t.tests, failures: a.failures + t.failures, errors: a.errors + t.errors, skipped: a.skipped + t.skipped, time: a.time + t.time,
  }), { tests: 0, failures: 0, errors: 0, skipped: 0, time: 0 })
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${attr(name)}" ${totalsAttrs(all)}>`
}

/** The XML of each case already written: a reporter that writes the file after every step
 *  hands the same case objects again (junit-reporter.ts), which need not be escaped again. */
const caseXml = new WeakMap<JunitCase, string>()

function testcaseXml(c: JunitCase): string {
  let xml = caseXml.get(c)
  if (xml === undefined) caseXml.set(c, (xml = renderTestcase(c)))
  return xml
}

function renderTestcase(c: JunitCase): string {
  const head = [`classname="${attr(c.classname)}"`, `name="${attr(c.name)}"`]
  if (c.file) head.push(`file="${attr(c.file)}"`)
  if (c.line !== undefined) head.push(`line="${c.line}"`)
  head.push(`time="${seconds(c.timeS)}"`)
  const inner: string[] = []
  const o = c.outcome
  if (o.status === 'skipped') inner.push(`<skipped message="${attr(o.message)}"/>`)
  if (o.status === 'failed' || o.status === 'error') {
    const tag = o.status === 'failed' ? 'failure' : 'error'
    inner.push(`<${tag} message="${attr(o.message)}"${o.type ? ` type="${attr(o.type)}"` : ''}>${text(o.detail)}</${tag}>`)
  }
  if (c.systemOut) inner.push(`<system-out>${text(c.systemOut)}</system-out>`)
  if (inner.length === 0) return `    <testcase ${head.join(' ')}/>`
  return `    <testcase ${head.join(' ')}>\n${inner.map((i) => `      ${i}`).join('\n')}\n    </testcase>`
}

function seconds(s: number): string {
  return (Math.round(s * 1000) / 1000).toString()
}

/** Characters XML 1.0 cannot hold at all (terminal escapes, NULs from a command's output) are
 *  written as `\xNN`, so the file stays well-formed and the reader still sees they were there. */
function xmlSafe(s: string): string {
  return s.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

function text(s: string): string {
  return xmlSafe(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')
}

// ---- reading JUnit back (what `labproof report merge` needs) ----

interface XmlElement { name: string; attrs: Record<string, string>; children: (XmlElement | string)[] }

/** The suites of a JUnit file: labproof's own, or any writer's that uses the common elements. */
export function parseJunit(xml: string, where = 'junit.xml'): JunitSuite[] {
  const root = parseXml(xml, where)
  const suiteElements = root.name === 'testsuites' ? elements(root, 'testsuite') : root.name === 'testsuite' ? [root] : []
  if (suiteElements.length === 0 && root.name !== 'testsuites') throw new Error(`${where}: not JUnit XML (the root element is <${root.name}>, not <testsuites> or <testsuite>)`)
  return suiteElements.map((s) => ({
    name: s.attrs.name ?? '',
    ...(s.attrs.file ? { file: s.attrs.file } : {}),
    ...(s.attrs.timestamp ? { timestamp: s.attrs.timestamp } : {}),
    ...(elements(s, 'properties').length ? { properties: Object.fromEntries(elements(elements(s, 'properties')[0]!, 'property').map((p) => [p.attrs.name ?? '', p.attrs.value ?? ''])) } : {}),
    cases: elements(s, 'testcase').map((c): JunitCase => {
      const failure = elements(c, 'failure')[0] ?? elements(c, 'error')[0]
      const skipped = elements(c, 'skipped')[0]
      const out = elements(c, 'system-out')[0]
      const outcome: JunitOutcome = failure
        ? { status: failure.name === 'failure' ? 'failed' : 'error', message: failure.attrs.message ?? '', ...(failure.attrs.type ? { type: failure.attrs.type } : {}), detail: textOf(failure) }
        : skipped ? { status: 'skipped', message: skipped.attrs.message ?? textOf(skipped) } : { status: 'passed' }
      return {
        name: c.attrs.name ?? '',
        classname: c.attrs.classname ?? '',
        ...(c.attrs.file ? { file: c.attrs.file } : {}),
        ...(c.attrs.line ? { line: Number(c.attrs.line) } : {}),
        timeS: Number(c.attrs.time ?? 0) || 0,
        outcome,
        ...(out ? { systemOut: textOf(out) } : {}),
      }
    }),
  }))
}

function elements(e: XmlElement, name: string): XmlElement[] {
  return e.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name)
}

function textOf(e: XmlElement): string {
  return e.children.filter((c): c is string => typeof c === 'string').join('')
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : ENTITIES[e] ?? whole)
}

/** A small XML reader: elements, attributes, text, CDATA; skips the prolog and comments. */
function parseXml(xml: string, where: string): XmlElement {
  const stack: XmlElement[] = [{ name: '#document', attrs: {}, children: [] }]
  const token = /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<\/([^\s>]+)\s*>|<([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g
  let m: RegExpExecArray | null
  let at = 0
  while ((m = token.exec(xml))) {
    if (m.index !== at) break
    at = token.lastIndex
    const top = stack.at(-1)!
    if (m[1] !== undefined) top.children.push(m[1])
    else if (m[2] !== undefined) {
      if (stack.length < 2 || top.name !== m[2]) throw new Error(`${where}: malformed XML: </${m[2]}> does not close <${top.name}>`)
      stack.pop()
    } else if (m[3] !== undefined) {
      const attrs: Record<string, string> = {}
      for (const a of (m[4] ?? '').matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]!] = decode(a[2] ?? a[3] ?? '')
      const e: XmlElement = { name: m[3], attrs, children: [] }
      top.children.push(e)
      if (!m[5]) stack.push(e)
    } else if (m[6] !== undefined && stack.length > 1) top.children.push(decode(m[6]))
  }
  if (at !== xml.length) throw new Error(`${where}: malformed XML at offset ${at}`)
  if (stack.length !== 1) throw new Error(`${where}: malformed XML: <${stack.at(-1)!.name}> is never closed (a truncated file?)`)
  const root = stack[0]!.children.find((c): c is XmlElement => typeof c !== 'string')
  if (!root) throw new Error(`${where}: empty: no XML element in it`)
  return root
}
