// What each test carries into the Allure report: labels (source document, scenario, section),
// the command transcript, notes on bounded commands, evidence files (pcaps), host facts, errata.
import * as allure from 'allure-js-commons'
import { formatResult, type Capabilities } from '../host.ts'
import type { LoadedScenario } from '../scenario/loader.ts'
import type { ErratumRecord } from '../scenario/run-step.ts'
import type { RunOptions } from '../scenario/runner.ts'
import type { StepContext } from '../scenario/step-context.ts'
import type { StepResult } from '../scenario/session.ts'
import { recordRunFact } from './run-record.ts'

export async function labelStep(s: LoadedScenario, section: string, number: number, opts: RunOptions): Promise<void> {
  await allure.epic(s.source.doc)
  await allure.feature(`${s.id}: ${s.title}`)
  await allure.story(section)
  await allure.label('scenario', s.id)
  await allure.label('sourceDocument', s.source.doc)
  await allure.label('section', section)
  await allure.parameter('step', String(number))
  await allure.parameter('backend', opts.backend)
  if (opts.distro) await allure.parameter('distro', opts.distro)
  if (opts.kernel) await allure.parameter('kernel', opts.kernel)
}

export async function attachStep(ctx: StepContext): Promise<void> {
  if (ctx.transcript.length > 0) {
    const text = [...ctx.notes.map((n) => `note: ${n}`), ...ctx.transcript.map(formatResult)].join('\n\n')
    await allure.attachment('transcript', text, { contentType: 'text/plain', fileExtension: 'txt' })
  }
  for (const a of ctx.attachments) {
    await allure.attachment(a.name, a.content, { contentType: a.contentType, ...(a.fileExtension ? { fileExtension: a.fileExtension } : {}) })
  }
}

export async function recordHostFacts(scenarioId: string, cell: string, caps: Capabilities): Promise<void> {
  const missing = Object.entries(caps.features).filter(([, v]) => v !== true).map(([k]) => k)
  const table = [
    `${caps.host}: ${caps.distro}, kernel ${caps.kernelRelease}, ${caps.versions.iproute2}, ${caps.versions.iptables}`,
    ...Object.entries(caps.features).map(([k, v]) => `  ${k.padEnd(8)} ${v === true ? 'yes' : `no: ${v}`}`),
    `  tools: ${Object.entries(caps.tools).filter(([, v]) => v).map(([k]) => k).join(' ')}`,
    `  missing tools: ${Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k).join(' ') || '-'}`,
  ].join('\n')
  await allure.attachment(`${caps.host} kernel and features`, table, { contentType: 'text/plain', fileExtension: 'txt' })
  const missingTools = Object.entries(caps.tools).filter(([, v]) => !v).map(([k]) => k)
  await recordRunFact(scenarioId, 'host', { cell, host: caps.host, kernelRelease: caps.kernelRelease, distro: caps.distro, versions: caps.versions, missing, missingTools })
}

export async function recordStepResult(scenarioId: string, cell: string, step: number, r: StepResult): Promise<void> {
  const reason = r.status === 'skipped' ? r.reason : r.status === 'failed' ? String((r.error as Error)?.message ?? r.error).split('\n')[0] : undefined
  await recordRunFact(scenarioId, 'step', { cell, step, status: r.status, ...(reason ? { reason } : {}) })
}

export async function recordErratum(s: LoadedScenario, section: string, step: number, e: ErratumRecord): Promise<void> {
  await allure.label('erratum', 'confirmed')
  await allure.attachment('erratum', [
    `document: ${s.source.doc}, section ${section}, step ${step}`,
    `verbatim:  ${e.verbatim}`,
    `outcome:   ${e.outcome}`,
    `corrected: ${e.corrected}`,
    `why:       ${e.why}`,
  ].join('\n'), { contentType: 'text/plain', fileExtension: 'txt' })
  await recordRunFact(s.id, 'errata', { doc: s.source.doc, section, step, ...e })
}
