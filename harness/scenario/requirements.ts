// What a step needs from its hosts: declared (scenario, section, step) and inferred from the
// document's command itself (`ip tunnel add … mode ipip` needs ipip; `ifconfig` needs net-tools).
// A host that lacks it makes the step skipped with the reason, never failed, never passed.
import { FEATURE_NOT_USABLE, KERNEL_CONFIG, TOOLS, type Capabilities, type KernelFeature, type Tool } from '../host.ts'
import { checkRequirements, checkTargets } from '../checks/index.ts'
import { isRunStep, isSectionStep, type Requirements, type Step } from './schema.ts'

const FEATURE_PATTERNS: [KernelFeature, RegExp][] = [
  ['ipip', /\b(mode|type)\s+ipip\b/],
  ['gre', /\b(mode|type)\s+gre(tap)?\b/],
  ['sit', /\b(mode|type)\s+sit\b/],
  ['vxlan', /\btype\s+vxlan\b/],
  ['macvlan', /\btype\s+macvlan\b/],
  ['ipvlan', /\btype\s+ipvlan\b/],
  ['dummy', /\btype\s+dummy\b/],
  ['vlan', /\btype\s+vlan\b/],
  ['veth', /\btype\s+veth\b/],
  ['bridge', /\btype\s+bridge\b|\bbrctl\s+addbr\b/],
  ['tun', /\btuntap\s+add\b/],
  ['nf_nat', /\s-t\s+nat\b.*-j\s+(MASQUERADE|SNAT|DNAT|REDIRECT)/],
]

/** A program name at a command position: start, after `;`, `&&`, `|`, `sudo`, `exec NAME`.
 *  Compiled once per tool: every step of every scenario is matched against each (`labproof list`). */
const TOOL_PATTERNS = new Map<Tool, RegExp>(TOOLS.map((tool) => {
  const t = tool.replace(/[-.]/g, '\\$&')
  return [tool, new RegExp(`(^|[;&|(]\\s*|\\bsudo\\s+|\\bnetns\\s+exec\\s+\\S+\\s+|\\btimeout\\s+\\S+\\s+)${t}(\\s|$)`)]
}))

function usesTool(cmd: string, tool: Tool): boolean {
  return TOOL_PATTERNS.get(tool)!.test(cmd)
}

export function inferRequirements(cmd: string): Requirements {
  return {
    kernel: FEATURE_PATTERNS.filter(([, re]) => re.test(cmd)).map(([f]) => f),
    tools: TOOLS.filter((t) => usesTool(cmd, t)),
  }
}

export function mergeRequirements(...all: (Partial<Requirements> | undefined)[]): Requirements {
  const kernel = new Set<KernelFeature>()
  const tools = new Set<Tool>()
  for (const r of all) {
    r?.kernel?.forEach((k) => kernel.add(k))
    r?.tools?.forEach((t) => tools.add(t))
  }
  return { kernel: [...kernel], tools: [...tools] }
}

/** The step's own needs: declared plus inferred from its command(s) or check kind. */
export function stepRequirements(step: Step): Requirements {
  if (isSectionStep(step)) return mergeRequirements(step.requires)
  // Packets as evidence need tcpdump: a step's captures and wire claims (checks that prove
  // their claims on the wire say so in their own requirements).
  const captures: Partial<Requirements> | undefined = step.capture?.length || step.wire?.length ? { tools: ['tcpdump'] } : undefined
  if (isRunStep(step)) {
    return mergeRequirements(
      step.requires, inferRequirements(step.run), step.erratum && inferRequirements(step.erratum.corrected),
      ...(step.erratum?.shows ?? []).map(checkRequirements), captures,
    )
  }
  return mergeRequirements(step.requires, checkRequirements(step.check), captures)
}

/** The hosts a step runs on: `host01/ns1` → host01. */
export function stepHosts(step: Step): string[] {
  if (isSectionStep(step)) return []
  if (isRunStep(step)) {
    const targets = [step.on, step.erratum?.on, ...(step.erratum?.shows ?? []).flatMap((c) => checkTargets(c).map((t) => t.target))]
    return [...new Set(targets.filter((t): t is string => t !== undefined).map((t) => t.split('/')[0]!))]
  }
  return [...new Set(checkTargets(step.check).map((t) => t.target.split('/')[0]!))]
}

/** Why the step cannot run on these hosts, or undefined when everything is there. */
export function missingRequirements(req: Requirements, caps: Capabilities[]): string | undefined {
  const reasons: string[] = []
  for (const c of caps) {
    for (const f of req.kernel) {
      const found = c.features[f]
      if (found === true) continue
      const notUsable = FEATURE_NOT_USABLE[f]
      reasons.push(notUsable
        ? `${c.host}: ${notUsable} (${KERNEL_CONFIG[f]}, or not allowed here: ${found})`
        : `${c.host}: kernel lacks ${f} (${KERNEL_CONFIG[f]})`)
    }
    const tools = req.tools.filter((t) => !c.tools[t])
    if (tools.length) reasons.push(`${c.host}: missing tool${tools.length > 1 ? 's' : ''} ${tools.join(', ')}`)
  }
  return reasons.length ? reasons.join('; ') : undefined
}
