// A step's transcript as text, the same in every report (Allure's attachment, JUnit's
// <system-out>): notes on how commands were bounded, then each command with its host, exit
// code, output and time. A skipped step's transcript says what was not run and why.
import type { StepRecord } from '../engine/events.ts'
import { formatResult, type Capabilities } from '../host.ts'
import type { PlannedStep } from '../scenario/plan.ts'

export function transcriptText(record: StepRecord): string {
  return [...record.notes.map((n) => `note: ${n}`), ...record.transcript.map(formatResult)].join('\n\n')
}

/** What a skipped step would have done, why it did not, and what the hosts showed when probed
 *  for the kernel features the step needs. */
export function skippedTranscript(planned: PlannedStep, title: string, reason: string, probed: Capabilities[]): string {
  const lines = [`not run: ${reason}`, '', `the step, as the scenario gives it: ${title}`]
  for (const caps of probed) {
    for (const feature of planned.requires.kernel) {
      const v = caps.features[feature]
      if (v !== undefined && v !== true) lines.push(`${caps.host} (kernel ${caps.kernelRelease}): ${feature} not usable: ${v}`)
    }
    const missingTools = planned.requires.tools.filter((t) => caps.tools[t] === false)
    if (missingTools.length) lines.push(`${caps.host}: tools not found: ${missingTools.join(', ')}`)
  }
  return lines.join('\n')
}
