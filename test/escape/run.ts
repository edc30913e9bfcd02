// npm run escape [-- --backend netns|docker ...] [--verbose]: the escape suite for a person. Runs the hostile
// write-up on each backend asked for (default: netns, and docker when an engine answers), prints
// what was tried and what escaped (--verbose: every command's output), and exits 1 if anything did or the machine changed.
import { parseArgs } from 'node:util'
import { backendByName } from '../../harness/backends/index.ts'
import { formatReport, runEscapeSuite } from './escape-suite.ts'
import { dockerAnswers } from './docker-available.ts'

const { values } = parseArgs({ options: { backend: { type: 'string', multiple: true }, verbose: { type: 'boolean' } } })
const names = values.backend ?? ['netns', ...((await dockerAnswers()) ? ['docker'] : [])]
if (process.getuid?.() !== 0) {
  console.error('npm run escape: run it as root (the suite provisions labs and reads the whole machine)')
  process.exit(2)
}
let failed = false
for (const name of names) {
  const backend = await backendByName(name)
  console.log(`== ${name}`)
  const report = await runEscapeSuite(backend, { log: (l) => console.log(`  ${l}`) })
  if (values.verbose) for (const e of report.effects) console.log(`-- ${e.id} on ${e.host}, exit ${e.exitCode}\n${e.output.trimEnd()}`)
  console.log(formatReport(report))
  failed ||= report.escaped.length > 0 || report.machineChanges.length > 0
}
process.exit(failed ? 1 : 0)
