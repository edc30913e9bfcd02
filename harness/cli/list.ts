// `labproof list [FILE|DIR|ID]...`: each scenario with its source, step count and requirements.
import type { LabproofConfig } from '../config.ts'
import { planSteps } from '../scenario/plan.ts'
import { resolveScenarios } from '../scenario/selection.ts'
import { parseCommand } from './usage.ts'

export const LIST_HELP = `usage: labproof list [FILE|DIR|ID]...

Prints each scenario (default: all the default scenarios, as for run) with its title, source
document and section, file, number of steps, and the kernel features and tools it needs.
`

export async function listCommand(args: string[], config: LabproofConfig): Promise<number> {
  const { positionals } = parseCommand(args, {}, true)
  for (const s of await resolveScenarios(positionals, { config })) {
    const steps = planSteps(s)
    const kernel = [...new Set(steps.flatMap((p) => p.requires.kernel))]
    const tools = [...new Set(steps.flatMap((p) => p.requires.tools))]
    process.stdout.write([
      `${s.id}`,
      `  ${s.title}`,
      `  source:   ${s.source.doc}, section ${s.source.section}`,
      `  file:     ${s.file}`,
      `  steps:    ${steps.length}`,
      `  kernel:   ${kernel.join(', ') || '-'}`,
      `  tools:    ${tools.join(', ') || '-'}`,
      '',
    ].join('\n') + '\n')
  }
  return 0
}
