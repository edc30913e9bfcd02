// `labproof endstate record [ID...]`: runs each scenario on a fresh lab (netns by default) and
// stores its end state beside it, scenarios/<file>.endstate.json, which grading compares a
// student's machine with. A scenario with a failed step is not recorded (its lab stopped midway).
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { ScenarioEngine } from '../engine/engine.ts'
import { UsageError } from '../cli/usage.ts'
import { loadConfig } from '../config.ts'
import { resolveScenarios } from '../scenario/selection.ts'
import { endStateFileOf, endStateSubscriber, formatEndStateFile, type EndStateFile } from './record.ts'

export const ENDSTATE_HELP = `labproof endstate record [FILE|DIR|ID]... [--backend B]

  Runs each scenario (default: all) and writes the state its lab ends in beside it, as
  <scenario>.endstate.json: per host, the namespaces, links (kind, up or down, master,
  addresses, veth peer), routes, bridge ports, the sysctls the lab touches and the iptables
  rules. labproof grade compares students' machines with it; review it like code.
  A scenario with a failed step is not written. Exit 0 when every scenario was recorded.
`

export async function endStateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { backend: { type: 'string', default: 'netns' }, help: { type: 'boolean', short: 'h', default: false } } })
  if (values.help) {
    process.stdout.write(ENDSTATE_HELP)
    return 0
  }
  const [verb, ...refs] = positionals
  if (verb !== 'record') throw new UsageError(`endstate: ${verb ? `unknown verb "${verb}"` : 'say what to do'}; the verb is record\n\n${ENDSTATE_HELP}`)
  const scenarios = await resolveScenarios(refs, { config: loadConfig() })
  let failures = 0
  for (const s of scenarios) {
    let recorded: EndStateFile | undefined
    const engine = new ScenarioEngine(s, { backend: values.backend, jobs: 1 })
      .subscribe(endStateSubscriber(async (file) => { recorded = file }))
    const results = await engine.runAll()
    const failed = results.findIndex((r) => r.status === 'failed')
    if (!recorded) {
      failures++
      process.stdout.write(`${s.id}: not recorded: ${failed >= 0 ? `a step failed (${String((results[failed] as { error: Error }).error?.message ?? '').split('\n')[0]})` : 'the run did not reach its last step'}\n`)
      continue
    }
    const file = endStateFileOf(s.file)
    await writeFile(file, formatEndStateFile(recorded))
    const skipped = results.filter((r) => r.status === 'skipped').length
    process.stdout.write(`${s.id}: ${file}${skipped ? ` (${skipped} steps skipped on this ${values.backend} host: their part of the state is missing)` : ''}\n`)
  }
  return failures ? 1 : 0
}
