// `labproof <command>`: the command line. Each command lives in harness/cli/ (init in
// harness/init.ts); this file dispatches, prints the help, and turns errors into one line and an
// exit code: 0 done, 1 a step failed or labproof could not do it, 2 a usage mistake.
import { backendNames } from './backends/index.ts'
import { backendOptionsUsage } from './backends/help.ts'
import { cleanCommand, CLEAN_HELP } from './cli/clean.ts'
import { ENVIRONMENT_HELP, EXIT_CODES_HELP } from './cli/environment.ts'
import { errataCommand, ERRATA_HELP } from './cli/errata.ts'
import { REVIEW_HELP } from './cli/review.ts'
import { imageCommand, IMAGE_HELP } from './cli/image.ts'
import { listCommand, LIST_HELP } from './cli/list.ts'
import { CHECK_SOURCE_HELP, DRAFT_HELP } from './cli/more-help.ts'
import { onOutputClosed, settleColour } from './cli/output.ts'
import { runCommand, runHelp } from './cli/run.ts'
import { argumentError, UsageError, wantsHelp } from './cli/usage.ts'
import { loadConfig, type LabproofConfig } from './config.ts'
import { initCommand, INIT_HELP } from './init.ts'
import { PACKAGE_VERSION } from './package-info.ts'
import { REPORT_HELP } from './report/merge.ts'
import { stopRun } from './run-vitest.ts'
import { SelectionError } from './scenario/selection.ts'

const USAGE = `labproof ${PACKAGE_VERSION} — run Linux virtual-networking lab write-ups as tests

usage:
  labproof run [FILE|DIR|ID]... [--backend ${backendNames().join('|')}] [--report] [--shard I/N]
               [--jobs N] [--out DIR] ${backendOptionsUsage()}
  labproof list [FILE|DIR|ID]...
  labproof errata [FILE|DIR|ID]... [--json]
  labproof review [FILE|DIR|ID]... [--json|--html] [--docs DIR]... [--results DIR]...
  labproof grade --scenario FILE|ID (--target TARGET | --targets students.csv) [options]
  labproof endstate record [FILE|DIR|ID]... [--backend B]
  labproof init [DIR] [--force]
  labproof clean
  labproof image build [--distro bookworm|trixie|bullseye]... [--force]
  labproof draft POST [--out FILE]
  labproof check-source [--docs DIR]... [SCENARIO_ID|FILE...]
  labproof report merge DIR... --out DIR
  labproof --version | --help | COMMAND --help

run      runs scenarios (FILE, DIR or ID; default: the config's "scenarios", else ./scenarios,
         else the examples labproof ships) on two fresh hosts each; results go to the console,
         reports/junit.xml and allure-results/; --report also builds the HTML report.
list     prints each scenario with its source document and requirements.
errata   prints the documents' defects the scenarios record, as a table or as JSON.
review   each document's claims and commands, top to bottom, with their verdicts merged over
         every backend's runs, the evidence, and for each defect the correction and why.
grade    scores a student's live machine (ssh://user@host[:port], local, docker:CONTAINER) or a
         class from a CSV against a scenario's checks, read-only; reports in reports/grades/.
endstate record  runs scenarios and stores the state each lab ends in beside it
         (<scenario>.endstate.json), which grade compares students' machines with.
init     writes scenarios/example.yaml (with its editor schema reference) and a CI workflow.
clean    removes whatever interrupted runs left behind (labs whose labproof process is gone).
image build  builds the docker backend's lab host image (debootstrap, no registry; cached).
draft    drafts a scenario from a lab post (Markdown or plain text; - reads stdin): its
         commands verbatim, hosts, namespaces, shown outputs; guesses marked todo. Runs nothing.
check-source  checks that every run: step not marked added: true is in its document, verbatim
         and in order (documents: beside the scenario, --docs DIR, LABPROOF_DOCS). Exit 1 on drift.
report merge  merges the results of several runs (the shards of --shard I/N) into one JUnit file
         and one HTML report under --out.

configuration: labproof.config.json, labproof.config.yaml or a "labproof" field in package.json,
in the current directory (paths relative to it):
  scenarios: [scenarios, labs/extra.yaml]   # folders and files: the default scenarios
  output: build/labproof                    # where reports/, allure-results/, allure-report/ go
  backend: netns                            # the default --backend
  jobs: 2                                   # scenarios at once
  docs: [docs]                              # the scenarios' documents (check-source)
The command line wins over the environment, which wins over the file.

${ENVIRONMENT_HELP}
${EXIT_CODES_HELP}`

/** Each command's --help; grade's and the others' are their own. */
const HELP: Record<string, string> = {
  run: runHelp(), list: LIST_HELP, errata: ERRATA_HELP, review: REVIEW_HELP, clean: CLEAN_HELP, image: IMAGE_HELP, init: INIT_HELP,
  report: REPORT_HELP,
  draft: DRAFT_HELP, 'check-source': CHECK_SOURCE_HELP,
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${PACKAGE_VERSION}\n`)
    return 0
  }
  // `labproof help COMMAND` is `labproof COMMAND --help`.
  if (command === 'help' && rest[0]) return main([rest[0], '--help'])
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  if (HELP[command] && wantsHelp(rest)) {
    process.stdout.write(HELP[command])
    return 0
  }
  const config = command === 'init' ? {} : applyConfig(loadConfig())
  switch (command) {
    case 'run': return runCommand(rest, config)
    case 'list': return listCommand(rest, config)
    case 'errata': return errataCommand(rest, config)
    case 'review': return (await import('./cli/review.ts')).reviewCommand(rest, config)
    case 'clean': return cleanCommand(rest)
    case 'image': return imageCommand(rest)
    case 'grade': return grade(rest)
    case 'endstate': return (await import('./endstate/endstate-command.ts')).endStateCommand(rest)
    case 'init': return initCommand(rest)
    case 'draft': return (await import('./draft/draft-command.ts')).draftCommand(rest)
    case 'check-source': return (await import('./scenario/check-source-command.ts')).checkSourceCommand(rest)
    case 'report': return (await import('./report/merge.ts')).reportCommand(rest)
    default:
      throw new UsageError(`unknown command "${command}"; the commands are ${COMMANDS.join(', ')} (labproof --help shows how to use them)`)
  }
}

const COMMANDS = ['run', 'list', 'errata', 'review', 'clean', 'image', 'grade', 'endstate', 'init', 'draft', 'check-source', 'report']

/** The config's output folder and documents, where the environment does not set them already;
 *  run's --out and --jobs override in their turn. */
function applyConfig(config: LabproofConfig): LabproofConfig {
  if (config.output && !process.env.LABPROOF_OUTPUT_DIR) process.env.LABPROOF_OUTPUT_DIR = config.output
  // package.json's "labproof" field is read for the documents where they are looked up.
  if (config.docs && !config.file?.endsWith('package.json') && !process.env.LABPROOF_DOCS) process.env.LABPROOF_DOCS = config.docs.join(':')
  return config
}

/** Loaded only for `grade`: the other commands never load the ssh and grading code. */
async function grade(args: string[]): Promise<number> {
  const { gradeCommand, GradeUsageError } = await import('./grade/grade-command.ts')
  try {
    return await gradeCommand(args)
  } catch (e) {
    throw e instanceof GradeUsageError ? new UsageError(e.message) : e
  }
}

settleColour()
// A reader that goes away (`labproof list | head -1`) ends the command quietly; a run stops
// and removes its labs first, as on SIGPIPE.
onOutputClosed(() => {
  if (process.argv[2] === 'run') stopRun('its output was closed', 141)
  else process.exit(0)
})

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (e: unknown) => {
    const error = argumentError(e, process.argv[2]) ?? e
    process.stderr.write(`labproof: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = error instanceof UsageError || error instanceof SelectionError ? 2 : 1
  },
)
