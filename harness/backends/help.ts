// The backends as `labproof run --help` shows them, from the registry: each backend's summary,
// its labs at once, and its options with their help.
import { allBackends } from './index.ts'
import { optionHelp } from './entry.ts'

const INDENT = 20
const WIDTH = 100

/** One block: every backend and, under it, its options. */
export function backendsHelp(): string {
  const lines: string[] = []
  for (const entry of allBackends()) {
    lines.push(...wrap(`  ${entry.name}`, `${entry.summary}; ${entry.defaultJobs} at once`))
    for (const [key, field] of Object.entries(entry.options.shape)) {
      const h = optionHelp(field)
      if (h) lines.push(...wrap(`    --${key}${h.arg ? ` ${h.arg}` : ''}`, h.help))
    }
  }
  return lines.join('\n')
}

/** `--jobs`' default, as the help says it: "netns 4, docker 4, qemu 1, vagrant 1". */
export function defaultJobsHelp(): string {
  return allBackends().map((b) => `${b.name} ${b.defaultJobs}`).join(', ')
}

/** The usage line's part for the backends' options: "[--distro LIST] [--image NAME] …". */
export function backendOptionsUsage(): string {
  const seen = new Map<string, string>()
  for (const entry of allBackends()) {
    for (const [key, field] of Object.entries(entry.options.shape)) {
      const arg = optionHelp(field)?.arg
      if (!seen.has(key)) seen.set(key, `[--${key}${arg ? ` ${arg}` : ''}]`)
    }
  }
  return [...seen.values()].join(' ')
}

/** `label` then `text` from column INDENT, wrapped at WIDTH. */
function wrap(label: string, text: string): string[] {
  const out: string[] = []
  let line = label.length >= INDENT ? `${label}\n${' '.repeat(INDENT)}` : label.padEnd(INDENT)
  let col = line.length - line.lastIndexOf('\n') - 1
  for (const word of text.split(' ')) {
    if (col + word.length > WIDTH && col > INDENT) {
      out.push(...line.trimEnd().split('\n'))
      line = ' '.repeat(INDENT)
      col = INDENT
    }
    line += `${word} `
    col += word.length + 1
  }
  out.push(...line.trimEnd().split('\n'))
  return out
}
