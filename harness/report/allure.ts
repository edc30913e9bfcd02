// What each test carries into the Allure report: labels (source document, scenario, section),
// the command transcript, notes on bounded commands, evidence files (pcaps), host facts, the
// lab's facts (which accelerator ran a VM lab and why, as a parameter of every step), errata;
// a skipped step's transcript says what was not run and why (its reason reaches the test's
// statusDetails through report/allure-reporter.ts).
// allureSubscriber(sink) takes them from the engine's events and hands them to a sink: in the
// vitest binding allure-js-commons' API, inside the vitest test the step is (allure-vitest finds
// the test from there); under `labproof run` the step's own result (run/allure-results.ts).
import type { Subscriber, StepRecord } from '../engine/events.ts'
import type { RunOptions } from '../engine/run-options.ts'
import type { Capabilities } from '../host.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { ErratumRecord } from '../scenario/run-step.ts'
import { skippedTranscript, transcriptText } from './transcript.ts'

/** Where a step's Allure metadata goes: the step being settled, whichever runner drives it. */
export interface AllureSink {
  label(name: string, value: string): PromiseLike<void> | void
  parameter(name: string, value: string, options?: { excluded?: boolean }): PromiseLike<void> | void
  attachment(name: string, content: string | Buffer, options: { contentType: string; fileExtension?: string }): PromiseLike<void> | void
}

export function allureSubscriber(allure: AllureSink): Subscriber {
  const probed: Capabilities[] = []
  // lab-up comes before any step's test (in vitest's beforeAll): its facts go to the steps.
  let lab: Record<string, string> | undefined
  let labShown = false
  return {
    'lab-up': (e) => {
      lab = e.lab.facts
    },
    'step-started': async (e) => {
      await labelStep(allure, e.scenario, e.step.section, e.step.number, e.options)
      if (lab) await recordLabFacts(allure, lab, !labShown)
      labShown = true
    },
    'host-probed': (e) => {
      probed.push(e.capabilities)
      return recordHostFacts(allure, e.capabilities)
    },
    'step-skipped': async (e) => await allure.attachment('transcript', skippedTranscript(e.step, e.title, e.reason, probed), { contentType: 'text/plain', fileExtension: 'txt' }),
    'step-result': async (e) => {
      await attachStep(allure, e.result.record)
      if (e.result.status === 'passed' && e.result.outcome.erratum) await recordErratum(allure, e.scenario, e.step.section, e.step.number, e.result.outcome.erratum)
    },
  }
}

export async function labelStep(allure: AllureSink, s: LoadedScenario, section: string, number: number, opts: RunOptions): Promise<void> {
  await allure.label('epic', s.source.doc)
  await allure.label('feature', `${s.id}: ${s.title}`)
  await allure.label('story', section)
  await allure.label('scenario', s.id)
  await allure.label('sourceDocument', s.source.doc)
  await allure.label('section', section)
  await allure.parameter('step', String(number))
  await allure.parameter('backend', opts.backend)
  if (opts.distro) await allure.parameter('distro', opts.distro)
  if (opts.kernel) await allure.parameter('kernel', opts.kernel)
}

export async function attachStep(allure: AllureSink, record: StepRecord): Promise<void> {
  if (record.transcript.length > 0) await allure.attachment('transcript', transcriptText(record), { contentType: 'text/plain', fileExtension: 'txt' })
  for (const a of record.attachments) {
    await allure.attachment(a.name, a.content, { contentType: a.contentType, ...(a.fileExtension ? { fileExtension: a.fileExtension } : {}) })
  }
}

/** Which accelerator ran the lab's VMs and why, on every step (left out of Allure's history id:
 *  the same step under KVM or TCG is one test); every fact of the lab, on the first step. */
export async function recordLabFacts(allure: AllureSink, facts: Record<string, string>, attach: boolean): Promise<void> {
  if (facts.accel) await allure.parameter('accelerator', `${facts.accel.toUpperCase()}: ${facts.accelReason ?? 'no reason given'}`, { excluded: true })
  if (attach) await allure.attachment('lab facts', Object.entries(facts).map(([name, value]) => `${name}: ${value}`).join('\n'), { contentType: 'text/plain', fileExtension: 'txt' })
}

export async function recordHostFacts(allure: AllureSink, caps: Capabilities): Promise<void> {
  const table = [
    `${caps.host}: ${caps.distro}, kernel ${caps.kernelRelease}, ${caps.versions.iproute2}, ${caps.versions.iptables}`,
    ...Object.entries(caps.features).map(([k, v]) => `  ${k.padEnd(8)} ${v === true ? 'yes' : `no: ${v}`}`),
    `  tools: ${Object.entries(caps.tools).filter(([, v]) => v).map(([k]) => k).join(' ')}`,
    `  missing tools: ${Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k).join(' ') || '-'}`,
  ].join('\n')
  await allure.attachment(`${caps.host} kernel and features`, table, { contentType: 'text/plain', fileExtension: 'txt' })
}

export async function recordErratum(allure: AllureSink, s: LoadedScenario, section: string, step: number, e: ErratumRecord): Promise<void> {
  await allure.label('erratum', 'confirmed')
  await allure.attachment('erratum', [
    `document: ${s.source.doc}, section ${section}, step ${step}`,
    `verbatim:  ${e.verbatim}`,
    `outcome:   ${e.outcome}`,
    `corrected: ${e.corrected}`,
    `why:       ${e.why}`,
  ].join('\n'), { contentType: 'text/plain', fileExtension: 'txt' })
}
