// Draft a scenario from a lab post: its commands verbatim and in order, each on the host and
// namespace the post means, with what the post shows it printing; sections from its headings;
// the underlay it describes. Nothing the post says is run: the draft is only written.
import { KERNEL_FEATURES, type KernelFeature } from '../host.ts'
import { boundCommand } from '../scenario/bounded.ts'
import { inferRequirements } from '../scenario/requirements.ts'
import { pingExpectation, outputExpectation, printsMachineState, type DraftExpectation, type NearbyProse } from './expectations.ts'
import { gatewayClue, hostLabels, proseAddresses, PromptHosts, shownAddress, underlayInterface, type AddressClue, type HostName } from './hosts.ts'
import { classify, gluedHeading, hasCjk, isProse, opensShell, postLines, programOf, type LineKind, type PostLine } from './post-lines.ts'

export interface DraftRunStep {
  /** The post's line the command stands on. */
  line: number
  run: string
  on: string
  /** Commands the post types into a shell this command opens. */
  input?: string[]
  expect?: DraftExpectation
  /** Kernel features the step needs beyond what its own command shows (a device it uses was
   *  made by a command that needs them), so it is skipped with its maker where they are missing. */
  requires?: { kernel: KernelFeature[] }
  /** Where the post's command cannot work as written (a PID of the post's machine, another
   *  system's syntax): what should run instead. A guess, with a todo. */
  erratum?: { corrected: string; why: string }
  notes: string[]
  /** What the drafter guessed, each naming the post's line: to review. */
  todos: string[]
}

export interface DraftSection {
  line: number
  section: string
}

export type DraftStep = DraftRunStep | DraftSection

export interface Draft {
  id: string
  title: string
  /** The post, as `source.doc` names it. */
  doc: string
  section: string
  underlay?: { interface?: string; gateway?: string }
  hosts?: Partial<Record<HostName, { underlay: string }>>
  steps: DraftStep[]
  /** Guesses about the scenario as a whole (its underlay), naming the post's lines. */
  todos: string[]
}

export function isRunDraft(s: DraftStep): s is DraftRunStep {
  return 'run' in s
}

interface Classified extends PostLine {
  k: LineKind
}

/** Commands may go on over several lines: `\` at the end of a line, or a here-document. */
function commandText(lines: Classified[], i: number, first: string): { text: string; next: number } {
  const parts = [first]
  let j = i + 1
  // A comment after the backslash (`id 100 \ # VNI`) is broken shell, but the post means a continuation.
  while (/\\(\s+#.*)?$/.test(parts.at(-1)!) && j < lines.length) parts.push(lines[j++]!.text.trimEnd())
  const heredoc = /<<-?\s*['"]?(\w+)['"]?/.exec(first)
  if (heredoc) {
    while (j < lines.length) {
      const l = lines[j++]!.text.trimEnd()
      parts.push(l)
      if (l.trim() === heredoc[1]) break
    }
  }
  return { text: parts.join('\n'), next: j }
}

const NETNS_ADD = /\bip\s+(?:-\S+\s+)*netns\s+(?:add|a)\s+([\w.-]+)/
const NAMESPACE_OF = /\bip\s+(?:-\S+\s+)*netns\s+exec\s+([\w.-]+)|\bip\s+(?:-\S+\s+)*-n(?:etns)?\s+([\w.-]+)/

export function draftScenario(postText: string, opts: { doc: string; fileName?: string }): Draft {
  const parsed = postLines(postText)
  const markdown = parsed.some((l) => /^\s*(```|~~~)/.test(l.text))
  const glued = new Map<number, string>()
  const lines: Classified[] = parsed.flatMap((l): Classified[] => {
    const split = !markdown && !l.fenced ? gluedHeading(l.text) : undefined
    if (!split) return [{ ...l, k: classify(l, markdown) }]
    glued.set(l.n, split.heading)
    const command = { ...l, text: split.command }
    return [{ ...command, k: classify(command, markdown) }, { ...l, text: split.heading, k: { kind: 'heading', title: split.heading } }]
  })
  const steps: DraftStep[] = []
  const todos: string[] = []
  const promptHosts = new PromptHosts()
  const namespaceHost = new Map<string, HostName>()
  const variables = new Map<string, { value: string; line: number }>()
  const assigned = new Set<string>()
  /** Namespaces and links the post's commands make, by name. */
  const made = new Set<string>()
  const recentProse: NearbyProse[] = []
  /** Numbers a shell printed as PIDs (`[1] 1489125`, `echo $$`), with their lines. */
  const shownPids = new Map<string, { line: number; job?: string }>()
  /** Subnets the post's commands put addresses on (`ip addr add 10.0.0.1/24`). */
  const subnets: string[] = []
  /** Steps routing via a gateway, with the subnets made before them: judged once the underlay is known. */
  const gatewaySteps: { step: DraftRunStep; gateway: string; subnets: string[] }[] = []
  const nic = underlayInterface(postText)
  let currentHost: HostName = 'host01'
  let namespaceLabel: string | undefined
  let pendingSection: DraftSection | undefined
  let nested: { step: DraftRunStep; promptHost: string; outputs: string[] } | undefined
  let lastStep: DraftRunStep | undefined
  let lastPromptHost: string | undefined

  const stepsOfRun = () => steps.filter(isRunDraft)

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const k = line.k
    if (k.kind === 'heading' || isPlainHeading(lines, i)) {
      pendingSection = { line: line.n, section: k.kind === 'heading' ? k.title : cleanTitle(line.text) }
      namespaceLabel = undefined
      recentProse.length = 0
      continue
    }
    if (k.kind === 'prose' || k.kind === 'comment') {
      const text = k.kind === 'comment' ? k.text : line.text
      const labels = [...new Set(hostLabels(text))]
      if (labels.length === 1) currentHost = labels[0]!
      const label = namespaceLabelOf(text, namespaceHost)
      namespaceLabel = label
      if (isListItem(line.text) && !line.fenced && hasCjk(line.text)) pendingSection = { line: line.n, section: cleanTitle(line.text) }
      recentProse.push({ line: line.n, text })
      if (recentProse.length > 3) recentProse.shift()
      continue
    }
    if (k.kind === 'other' || k.kind === 'blank' || k.kind === 'fence') {
      const label = k.kind === 'other' ? labelBeforeCommand(lines, i, namespaceHost) : undefined
      if (label) namespaceLabel = label
      continue
    }
    if (k.kind === 'prompt-only') continue
    // A command.
    const { text: run, next } = commandText(lines, i, k.command)
    const promptHost = k.prompt?.host
    if (nested && (promptHost !== nested.promptHost)) nested = undefined
    // The output: the lines after the command, up to the next command, prose, heading or label.
    const output: string[] = []
    let j = next
    for (; j < lines.length; j++) {
      const o = lines[j]!
      if (o.k.kind === 'blank') {
        // One blank line inside output (between ifconfig's interfaces) when output goes on.
        const after = lines[j + 1]
        if (output.length && after && after.k.kind === 'other' && !labelBeforeCommand(lines, j + 1, namespaceHost) && o.fenced === after.fenced && !isPlainHeading(lines, j + 1)) { output.push(''); continue }
        break
      }
      if (o.k.kind === 'prompt-only' && !output.length && opensShell(run)) { output.push(o.text); continue }
      // Where the post puts prompts before what it types, a bare line after a prompted command
      // is what that command printed (`ip netns help` lists `ip netns monitor`).
      if (k.prompted && o.k.kind === 'command' && !o.k.prompted && output.length && !o.fenced) { output.push(o.text.trimEnd()); continue }
      if (o.k.kind !== 'other' || labelBeforeCommand(lines, j, namespaceHost)) break
      output.push(o.text.trimEnd())
    }
    i = j - 1
    for (const o of output) {
      const job = /^\[\d+\]\s+(\d+)\s*$/.exec(o)
      if (job) shownPids.set(job[1]!, { line: lines.find((l) => l.text === o)?.n ?? line.n, job: run })
    }
    if (/^echo\s+\$\$\s*$/.test(run) && /^\d+$/.test(output[0]?.trim() ?? '')) shownPids.set(output[0]!.trim(), { line: line.n + 1 })

    if (nested) {
      // Typed into the shell a previous command opened: that step's input.
      if (run.trim() === 'exit') { nested = undefined; continue }
      nested.step.input!.push(run)
      if (printsMachineState(run)) {
        if (output.some((o) => o.trim())) nested.step.todos.push(`line ${line.n}: \`${run}\` prints the post's machine's state: its output is not claimed`)
      } else nested.outputs.push(...output.filter((o) => o.trim()))
      if (nested.outputs.length) nested.step.expect = { ...nested.step.expect, output: nested.outputs.join('\n') }
      continue
    }
    if (lastStep && opensShell(lastStep.run) && promptHost && promptHost !== lastPromptHost && lastStep === stepsOfRun().at(-1)) {
      // The prompt changed right after a shell was opened: the reader is typing into it.
      const host = lastStep.on.split('/')[0] as HostName
      promptHosts.alias(promptHost, host)
      lastStep.input = [run]
      lastStep.notes.push(`the post types the commands at lines ${line.n} and after into this shell (its prompt: ${promptHost}); they are its input`)
      nested = { step: lastStep, promptHost, outputs: printsMachineState(run) ? [] : output.filter((o) => o.trim()) }
      if (printsMachineState(run) && output.some((o) => o.trim())) lastStep.todos.push(`line ${line.n}: \`${run}\` prints the post's machine's state: its output is not claimed`)
      lastStep.expect = { ...lastStep.expect, output: nested.outputs.join('\n') || undefined }
      if (!lastStep.expect.output) delete lastStep.expect.output
      continue
    }

    const step: DraftRunStep = { line: line.n, run, on: 'host01', notes: [], todos: [] }
    // Which host: the prompt's machine, else where the namespace it names was made, else the
    // machine the prose last named.
    const ns = NAMESPACE_OF.exec(run)
    const named = ns ? (ns[1] ?? ns[2])! : undefined
    let host: HostName = currentHost
    if (promptHost) {
      const p = promptHosts.hostFor(promptHost)
      host = p.host
      if (p.guessed) step.todos.push(`line ${line.n}: the prompt names a third machine, ${promptHost}: taken as ${host}`)
    } else if (named && namespaceHost.has(named)) {
      host = namespaceHost.get(named)!
    }
    step.on = host
    if (!named && namespaceLabel && namespaceHost.has(namespaceLabel) && !promptHost) {
      const labelHost = namespaceHost.get(namespaceLabel)!
      if (nic && new RegExp(`\\b${nic.name}\\b`).test(run)) {
        // The underlay NIC is the host's: the label names the namespace the route is for.
        step.on = labelHost
        step.todos.push(`line ${line.n}: the post labels this ${namespaceLabel}, but it names ${nic.name}, the host's NIC: run on ${labelHost} itself`)
      } else {
        step.on = `${labelHost}/${namespaceLabel}`
        step.todos.push(`line ${line.n}: run in namespace ${namespaceLabel} because the post labels it so; the command does not name it`)
      }
    }
    // A clean-up before the lab (deleting what the post has not made yet) fails on a fresh host.
    const deleted = /\bip\s+(?:-\S+\s+)*(?:netns|link)\s+(?:delete|del)\s+(?:dev\s+)?([\w.@-]+)|\bbrctl\s+delbr\s+([\w.-]+)/.exec(run)
    const deletedName = deleted ? (deleted[1] ?? deleted[2])! : undefined
    if (deletedName && !made.has(deletedName) && !output.length) {
      step.expect = { exitCode: 'any' }
      step.todos.push(`line ${line.n}: deletes ${deletedName} before the post makes it (a clean-up): on a fresh host it fails, so any exit code is accepted`)
    }
    for (const m of run.matchAll(/\b(?:netns\s+add|link\s+add(?:\s+name)?|peer\s+name|addbr|tuntap\s+add(?:\s+dev)?|tunnel\s+add)\s+([\w.@-]+)/g)) made.add(m[1]!)
    const added = NETNS_ADD.exec(run)
    if (added) namespaceHost.set(added[1]!, host)
    if (named && !namespaceHost.has(named)) step.todos.push(`line ${line.n}: namespace ${named} is not made by any command of the post before this`)
    for (const m of run.matchAll(/\b(?:addr(?:ess)?|a)\s+add\s+(\d+\.\d+\.\d+\.\d+)/g)) assigned.add(m[1]!)

    // What it shows.
    const program = programOf(run.replace(/^.*\bip\s+(-\S+\s+)*netns\s+exec\s+\S+\s+/, '')).program
    const drafted = program === 'ping' || program === 'ping6'
      ? pingExpectation(run, output, [...recentProse, ...proseAfter(lines, j)], assigned)
      : printsMachineState(run) ? { notes: [], todos: output.some((o) => o.trim()) ? ['it prints the post\'s machine\'s state (a PID, a cgroup, mount ids): the post\'s output is not claimed'] : [] }
      : outputExpectation(output)
    if (drafted.expect) step.expect = drafted.expect
    step.notes.push(...drafted.notes)
    step.todos.push(...drafted.todos.map((t) => (/^line \d+/.test(t) ? t : `line ${line.n}: ${t}`)))
    const bounded = boundCommand(run)
    if (bounded.notes.length) step.notes.push(`does not end on its own: runs as \`${bounded.command}\``)
    const lastLine = line.n + run.split('\n').length - 1
    if (glued.has(lastLine)) step.todos.push(`line ${lastLine}: the post runs this command straight into the heading "${glued.get(lastLine)}" (a lost line break): the command is taken up to it`)
    if (/\btail\s+-f\b|\bwatch\b|^\s*top\b|\bnc\s+-l|\bsleep\s+\d{3,}\s*$/.test(run)) step.todos.push(`line ${line.n}: this command does not end on its own: background it or give timeoutMs`)
    // The post's shell variables, spelled out.
    const uses = [...run.matchAll(/\$\{?([A-Za-z_]\w*)\}?/g)].map((m) => m[1]!).filter((v) => variables.has(v))
    if (uses.length) {
      const expanded = run.replace(/\$\{?([A-Za-z_]\w*)\}?/g, (all, v: string) => variables.get(v)?.value ?? all)
      step.notes.push(`with the post's variables (${[...new Set(uses)].map((v) => `${v} from line ${variables.get(v)!.line}`).join(', ')}): ${expanded}`)
      step.todos.push(`line ${line.n}: each step runs in a shell of its own, where ${[...new Set(uses)].map((v) => `$${v}`).join(', ')} is not set: define it in this step or write the value`)
    }
    const assignment = /^(?:export\s+)?([A-Za-z_]\w*)=(\S+)\s*$/.exec(run)
    if (assignment) {
      variables.set(assignment[1]!, { value: assignment[2]!.replace(/^['"]|['"]$/g, ''), line: line.n })
      step.todos.push(`line ${line.n}: a variable for the post's later commands; a step's shell forgets it`)
    }
    for (const [pid, shown] of shownPids) {
      if (!new RegExp(`(^|\\D)${pid}(\\D|$)`).test(run)) continue
      // The PID of the post's own job or shell: here there is no such process.
      const instead = shown.job ? `$(pgrep -xf '${shown.job.replace(/\s*&\s*$/, '')}')` : '$$'
      step.expect = { ...step.expect, exitCode: 'nonzero' }
      step.erratum = { corrected: run.replace(new RegExp(`(^|\\D)${pid}(?=\\D|$)`, 'g'), (_all, before: string) => `${before}${instead}`), why: `${pid} is the PID the post's ${shown.job ? `job \`${shown.job}\`` : 'shell'} had (line ${shown.line}); on another run there is no such process` }
      step.todos.push(`line ${line.n}: ${pid} is the PID the post's shell printed at line ${shown.line}: the command fails here, and the erratum names the process instead`)
    }
    if (/\/boot\/config-/.test(run)) {
      step.expect = { exitCode: 'any' }
      step.todos = step.todos.filter((t) => !t.includes("the post's machine's state"))
      step.todos.push(`line ${line.n}: not every host keeps its kernel's config in /boot (containers, the lab's hosts do not): any exit code is accepted, and the output is not claimed`)
    }
    if (/^\s*(sudo\s+)?route\s+add\s+\S+\s+mask\s/.test(run)) {
      step.expect = { exitCode: 'nonzero' }
      step.todos.push(`line ${line.n}: \`route add … mask …\` is Windows syntax: Linux's route refuses it (an erratum: route add -net … netmask … gw …)`)
    }
    const gateway = /\b(?:via|gw)\s+(\d+\.\d+\.\d+\.\d+)/.exec(run)?.[1]
    if (gateway) gatewaySteps.push({ step, gateway, subnets: [...subnets] })
    for (const m of run.matchAll(/\b(?:addr(?:ess)?|a)\s+(?:add|a)\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/g)) subnets.push(`${m[1]}/${m[2]}`)

    if (pendingSection) {
      steps.push(pendingSection)
      pendingSection = undefined
    }
    steps.push(step)
    lastStep = step
    lastPromptHost = promptHost
    recentProse.length = 0
  }

  inheritRequirements(stepsOfRun())
  for (const step of stepsOfRun()) {
    if (opensShell(step.run) && !step.input) step.todos.push(`line ${step.line}: opens a shell and the post shows nothing typed into it: it gets no input and ends at once (give \`input:\` if the post's next commands belong in it)`)
  }
  const underlay = draftUnderlay(postText, stepsOfRun(), lines, todos)
  const underlaySubnet = underlay.hosts?.host01?.underlay ?? '192.168.21.11/24'
  for (const { step, gateway, subnets: before } of gatewaySteps) {
    if (reachableGateway(gateway, [...before, underlaySubnet])) continue
    step.expect = { ...step.expect, exitCode: 'nonzero' }
    step.todos.push(`line ${step.line}: no address the post gives is on ${gateway}'s network, nor the underlay: the kernel refuses a gateway it cannot reach`)
  }
  const title = titleOf(lines) ?? opts.doc
  return {
    id: idOf(title, opts.fileName ?? opts.doc),
    title,
    doc: opts.doc,
    section: (steps.find((s) => !isRunDraft(s)) as DraftSection | undefined)?.section ?? title,
    ...underlay,
    steps,
    todos,
  }
}

/** Prose just after a command's output ("结果不通", "it fails"), up to two lines. */
function proseAfter(lines: Classified[], from: number): NearbyProse[] {
  const out: NearbyProse[] = []
  for (let j = from; j < lines.length && out.length < 2; j++) {
    const k = lines[j]!.k.kind
    if (k === 'command' || k === 'heading') break
    if (k === 'prose' || k === 'comment') out.push({ line: lines[j]!.n, text: lines[j]!.text })
  }
  return out
}

/** A line that is just a namespace the post made (`ns1`, `• ns2`) with commands after it: they
 *  are for it (what `ip netns ls` prints is not a label). */
function labelBeforeCommand(lines: Classified[], i: number, namespaces: Map<string, HostName>): string | undefined {
  const label = namespaceLabelOf(lines[i]!.text, namespaces)
  const next = lines.slice(i + 1).find((l) => l.k.kind !== 'blank')
  return label && next?.k.kind === 'command' ? label : undefined
}

function namespaceLabelOf(text: string, namespaces: Map<string, HostName>): string | undefined {
  const t = text.trim().replace(/^([•·]|[-*+]|\d+[.)])\s*/, '').replace(/[:：]$/, '')
  return namespaces.has(t) ? t : undefined
}

function isListItem(text: string): boolean {
  return /^\s*\d+[.)]\s+\S/.test(text) && text.trim().length <= 40
}

/** In scraped text a heading is a short line on its own, between blank lines, that is not a
 *  sentence, a command or output. */
function isPlainHeading(lines: Classified[], i: number): boolean {
  const l = lines[i]!
  if (l.fenced || !(l.k.kind === 'prose' || l.k.kind === 'other')) return false
  const t = l.text.trim()
  // "步骤 1:清理旧配置", "Step 2: create the bridge", "第三步": a step heading, blank lines or not.
  if (t.length <= 40 && /^(步骤|step|第\S{1,3}步)\s*\d*\s*[:：.、]?/i.test(t)) return true
  if (t.length > 40 || /[。，,;；!！?？:：]$/.test(t) || /^[•·\-*\d]/.test(t) || /^image-\d+|^\W*$/.test(t)) return false
  if (/\d+\.\d+\.\d+\.\d+|[=|<>]/.test(t)) return false
  const before = lines[i - 1]
  const after = lines[i + 1]
  return (!before || before.k.kind === 'blank') && (!after || after.k.kind === 'blank') && (hasCjk(t) || (/^[A-Z]/.test(t) && !isProse(t)))
}

function cleanTitle(text: string): string {
  return text.trim().replace(/^(\d+[.)]|[•·])\s*/, '').replace(/\*\*|`/g, '').slice(0, 80)
}

function titleOf(lines: Classified[]): string | undefined {
  const front = lines.findIndex((l) => /^title:\s*\S/.test(l.text))
  if (front >= 0 && front < 20) return lines[front]!.text.replace(/^title:\s*/, '').trim()
  const heading = lines.find((l) => l.k.kind === 'heading')
  if (heading && heading.k.kind === 'heading') return heading.k.title
  const first = lines.find((l) => l.text.trim() && l.text.trim() !== '---')?.text.trim()
  return first && first.length <= 60 && !/[.。,，]$/.test(first) ? first : undefined
}

function idOf(title: string, fileName: string): string {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50).replace(/-+$/, '')
  const fromTitle = slug(title)
  return fromTitle.length >= 6 ? fromTitle : `draft-${slug(fileName.replace(/\.[^.]*$/, '')) || 'post'}`
}

function draftUnderlay(postText: string, runSteps: DraftRunStep[], lines: Classified[], todos: string[]): Pick<Draft, 'underlay' | 'hosts'> {
  const nic = underlayInterface(postText)
  const clues: AddressClue[] = []
  const outputsOf = (step: DraftRunStep) => step.expect?.output?.split('\n') ?? []
  for (const step of runSteps) {
    const host = step.on.split('/')[0] as HostName
    const inNamespace = step.on.includes('/') || NAMESPACE_OF.test(step.run)
    if (nic && !inNamespace && /\b(ifconfig|ip\s+(-\S+\s+)*(a|addr|address)\b)/.test(step.run)) {
      const shown = shownAddress(outputsOf(step), nic.name)
      if (shown) clues.push({ host, address: shown.address, prefix: shown.prefix, line: step.line, why: `the post shows ${nic.name} with this address on it` })
    }
    const joined = step.run.replace(/\\(\s+#[^\n]*)?\n/g, ' ')
    const tunnel = /\bremote\s+(\d+\.\d+\.\d+\.\d+)\s+local\s+(\d+\.\d+\.\d+\.\d+)|\blocal\s+(\d+\.\d+\.\d+\.\d+)\s+remote\s+(\d+\.\d+\.\d+\.\d+)/.exec(joined)
    if (tunnel && !inNamespace) {
      const [remote, local] = tunnel[1] ? [tunnel[1], tunnel[2]!] : [tunnel[4]!, tunnel[3]!]
      clues.push({ host, address: local, line: step.line, why: 'the tunnel\'s local end on this machine' })
      clues.push({ host: host === 'host01' ? 'host02' : 'host01', address: remote, line: step.line, why: 'the tunnel\'s remote end' })
    }
  }
  let gateway: { address: string; line: number } | undefined
  for (const l of lines) {
    if (l.k.kind === 'prose' || l.k.kind === 'comment' || l.k.kind === 'other') {
      const text = l.k.kind === 'comment' ? l.k.text : l.text
      clues.push(...proseAddresses(text, l.n))
      const g = gatewayClue(text)
      if (g && !gateway) gateway = { address: g, line: l.n }
    }
  }
  const chosen = new Map<HostName, AddressClue>()
  for (const c of clues) if (!chosen.has(c.host) && ![...chosen.values()].some((o) => o.address === c.address)) chosen.set(c.host, c)
  const result: Pick<Draft, 'underlay' | 'hosts'> = {}
  if (nic && nic.name !== 'ens33') {
    result.underlay = { interface: nic.name }
    todos.push(`line ${nic.line}: the underlay interface is ${nic.name}, the NIC name the post uses most`)
  }
  if (chosen.size === 0) return result
  const first = chosen.get('host01') ?? chosen.get('host02')!
  const prefix = first.prefix ?? 24
  const hostTodos: string[] = []
  if (!first.prefix) hostTodos.push(`line ${first.line}: the post gives no prefix for ${first.address}: /24 assumed`)
  const hosts: NonNullable<Draft['hosts']> = {}
  for (const h of ['host01', 'host02'] as const) {
    const c = chosen.get(h)
    if (c && sameSubnet(c.address, first.address, prefix)) {
      hosts[h] = { underlay: `${c.address}/${prefix}` }
      hostTodos.push(`line ${c.line}: ${h} is ${c.address}: ${c.why}`)
    }
  }
  for (const h of ['host01', 'host02'] as const) {
    if (hosts[h]) continue
    const other = hosts[h === 'host01' ? 'host02' : 'host01']!
    const address = nextFree(other.underlay, [gateway?.address, ...clues.map((c) => c.address)])
    hosts[h] = { underlay: address }
    hostTodos.push(`${h}'s underlay address ${address} is made up beside ${other.underlay}: the post gives none`)
  }
  // The lab's own addresses need no saying.
  if (hosts.host01!.underlay !== '192.168.21.11/24' || hosts.host02!.underlay !== '192.168.21.12/24') {
    result.hosts = hosts
    todos.push(...hostTodos)
  }
  if (gateway && sameSubnet(gateway.address, first.address, prefix) && gateway.address !== `${first.address.split('.').slice(0, 3).join('.')}.1`) {
    result.underlay = { ...result.underlay, gateway: gateway.address }
    todos.push(`line ${gateway.line}: the gateway is ${gateway.address}, as the post says`)
  }
  return result
}

function toInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
}

function sameSubnet(a: string, b: string, prefix: number): boolean {
  const size = 2 ** (32 - prefix)
  return Math.floor(toInt(a) / size) === Math.floor(toInt(b) / size)
}

function nextFree(cidr: string, taken: (string | undefined)[]): string {
  const [address, prefix] = cidr.split('/') as [string, string]
  let n = toInt(address) + 1
  const used = new Set(taken.filter(Boolean))
  while (used.has(fromInt(n)) || fromInt(n).endsWith('.255')) n++
  return `${fromInt(n)}/${prefix}`
}

function fromInt(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** A step that uses a device (or an address on it) made by a command needing a kernel feature
 *  needs that feature too: on a kernel without ipip, `ip link set tun1 up` after a skipped
 *  `ip tunnel add tun1 mode ipip` is skipped with it, not failed. */
function inheritRequirements(runSteps: DraftRunStep[]): void {
  const madeBy = new Map<string, { features: KernelFeature[]; line: number }>()
  for (const step of runSteps) {
    const own: KernelFeature[] = inferRequirements(step.run).kernel.filter((f) => f !== 'veth' && f !== 'bridge')
    const needed = new Map<KernelFeature, string>()
    // `modprobe ipip`, `lsmod | grep ipip`: the module is the feature.
    const module = /\b(?:modprobe|insmod)\s+(?:-\S+\s+)*([\w-]+)|\blsmod\s*\|\s*grep\s+([\w-]+)/.exec(step.run)
    const named = (module?.[1] ?? module?.[2])?.replace(/^ip_gre$/, 'gre') as KernelFeature | undefined
    if (named && (KERNEL_FEATURES as readonly string[]).includes(named) && !own.includes(named)) needed.set(named, `it loads or lists the ${named} module`)
    // A cgroup v1 hierarchy's files: the hierarchy must be there.
    if (/\/sys\/fs\/cgroup\/freezer\b|\bfreezer\b/.test([step.run, ...(step.input ?? [])].join('\n'))) needed.set('cgroup1_freezer', 'it uses the cgroup v1 freezer hierarchy')
    for (const [name, maker] of madeBy) {
      const word = new RegExp(`(^|[^\\w.-])${name.replace(/[.]/g, '\\.')}([^\\w.-]|$)`)
      if (word.test(step.run) || word.test(step.expect?.output ?? '')) for (const f of maker.features) if (!own.includes(f)) needed.set(f, `it uses ${name}, made at line ${maker.line}`)
    }
    // What the post shows it printing names a tunnel's kind: the step needs that kind too.
    const shown = step.expect?.output ?? ''
    if (/IPIP Tunnel|link\/ipip|\bip\/ip remote/.test(shown) && !own.includes('ipip')) needed.set('ipip', 'the post shows it printing an ipip tunnel')
    if (/link\/gre\b|\bgre\/ip remote/.test(shown) && !own.includes('gre')) needed.set('gre', 'the post shows it printing a gre tunnel')
    if (needed.size) {
      step.requires = { kernel: [...needed.keys()] }
      step.notes.push(`needs ${[...needed.keys()].join(', ')}: ${[...new Set(needed.values())].join('; ')}`)
    }
    const features = [...own, ...needed.keys()]
    if (!features.length) continue
    const joined = step.run.replace(/\\\n/g, ' ')
    for (const m of joined.matchAll(/\b(?:tunnel\s+add|link\s+add(?:\s+name)?|tuntap\s+add(?:\s+dev)?)\s+([\w.@-]+)/g)) madeBy.set(m[1]!, { features, line: step.line })
    for (const m of joined.matchAll(/\baddr(?:ess)?\s+add\s+(\d+\.\d+\.\d+\.\d+)/g)) madeBy.set(m[1]!, { features, line: step.line })
    // Addresses the post shows on a tunnel device in what the step prints (ifconfig's blocks).
    for (const block of shown.split(/\n(?=\S)/)) {
      const name = /^([\w.@-]+?):\s/.exec(block)?.[1]
      if (!name || !(madeBy.has(name) || /POINTOPOINT|Tunnel|link\/(ipip|gre)/.test(block))) continue
      for (const m of block.matchAll(/\b(?:inet|destination|peer)\s+(\d+\.\d+\.\d+\.\d+)/g)) madeBy.set(m[1]!, { features, line: step.line })
    }
  }
}

function reachableGateway(gateway: string, subnets: string[]): boolean {
  return subnets.some((cidr) => {
    const [address, prefix] = cidr.split('/') as [string, string]
    return sameSubnet(gateway, address, Number(prefix))
  })
}
