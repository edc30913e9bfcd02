// `labproof <command>`: the command line. Each command lives in harness/cli/ (init in
// harness/init.ts); this file dispatches, prints the help, and turns errors into one line and an
// exit code: 0 done, 1 a step failed or labproof could not do it, 2 a usage mistake.
import { ENVIRONMENT_HELP, EXIT_CODES_HELP } from './cli/environment.ts'
import { onOutputClosed, settleColour } from './cli/output.ts'
import { argumentError, UsageError, wantsHelp } from './cli/usage.ts'
import type { LabproofConfig } from './config.ts'
import { PACKAGE_VERSION } from './package-info.ts'

/** `labproof --help`; the backends and their options come from the registry. */
async function usage(): Promise<string> {
  const { backendNames } = await import('./backends/index.ts')
  const { backendOptionsUsage } = await import('./backends/help.ts')
  return `labproof ${PACKAGE_VERSION} — run Linux virtual-networking lab write-ups as tests

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
  maxSteps: 5000                            # scenario size limits (default 2000 steps,
  maxScenarioBytes: 4194304                 #   1 MiB; --max-steps N, --max-scenario-bytes N on
                                            #   run, list, errata, review, grade, endstate, check-source)
The command line wins over the environment, which wins over the file.

${ENVIRONMENT_HELP}
${EXIT_CODES_HELP}`
}

interface Command {
  /** `labproof COMMAND --help`; absent: the command answers --help itself. */
  help?: () => string
  run: (args: string[], config: LabproofConfig) => Promise<number>
}

/** Each command, loaded only when it is the one asked for: `labproof list` loads neither vitest
 *  nor Allure nor any other command's code, and start-up costs only what the command uses. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => { const m = await import('./cli/run.ts'); return { help: m.runHelp, run: m.runCommand } },
  list: async () => { const m = await import('./cli/list.ts'); return { help: () => m.LIST_HELP, run: m.listCommand } },
  errata: async () => { const m = await import('./cli/errata.ts'); return { help: () => m.ERRATA_HELP, run: m.errataCommand } },
  review: async () => { const m = await import('./cli/review.ts'); return { help: () => m.REVIEW_HELP, run: m.reviewCommand } },
  clean: async () => { const m = await import('./cli/clean.ts'); return { help: () => m.CLEAN_HELP, run: (args) => m.cleanCommand(args) } },
  image: async () => { const m = await import('./cli/image.ts'); return { help: () => m.IMAGE_HELP, run: (args) => m.imageCommand(args) } },
  grade: async () => ({ run: (args) => grade(args) }),
  endstate: async () => { const m = await import('./endstate/endstate-command.ts'); return { run: (args) => m.endStateCommand(args) } },
  init: async () => { const m = await import('./init.ts'); return { help: () => m.INIT_HELP, run: (args) => m.initCommand(args) } },
  draft: async () => {
    const { DRAFT_HELP } = await import('./cli/more-help.ts')
    return { help: () => DRAFT_HELP, run: async (args) => (await import('./draft/draft-command.ts')).draftCommand(args) }
  },
  'check-source': async () => {
    const { CHECK_SOURCE_HELP } = await import('./cli/more-help.ts')
    return { help: () => CHECK_SOURCE_HELP, run: async (args) => (await import('./scenario/check-source-command.ts')).checkSourceCommand(args) }
  },
  report: async () => { const m = await import('./report/merge.ts'); return { help: () => m.REPORT_HELP, run: (args) => m.reportCommand(args) } },
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
    process.stdout.write(await usage())
    return command === undefined ? 2 : 0
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (!load) throw new UsageError(`unknown command "${command}"; the commands are ${Object.keys(COMMANDS).join(', ')} (labproof --help shows how to use them)`)
  const { help, run } = await load()
  if (help && wantsHelp(rest)) {
    process.stdout.write(help())
    return 0
  }
  // `list` answers from its index while nothing it lists has changed (cli/list-index.ts), before
  // the settings are read: that loads the YAML and schema code the index spares.
  if (command === 'list') {
    const listing = (await import('./cli/list-index.ts')).lookUpListing(rest)
    if (listing !== undefined) {
      process.stdout.write(listing)
      return 0
    }
  }
  // --max-steps and --max-scenario-bytes on every command that loads scenarios (run parses its own).
  const { LIMITED_COMMANDS, takeLimitOptions } = await import('./cli/limit-options.ts')
  const { limits, rest: args } = LIMITED_COMMANDS.includes(command) ? takeLimitOptions(rest) : { limits: {}, rest }
  const config = command === 'init' ? {} : await applyConfig((await import('./config.ts')).loadConfig(), limits)
  return run(args, config)
}

/** The config's output folder and documents, where the environment does not set them already;
 *  run's --out and --jobs override in their turn. */
async function applyConfig(config: LabproofConfig, cli: { steps?: number; bytes?: number } = {}): Promise<LabproofConfig> {
  // Scenario size limits, for every command that loads scenarios (run's options override).
  const { resolveLimits, setScenarioLimits } = await import('./scenario/limits.ts')
  setScenarioLimits(resolveLimits({ cli, env: process.env, ...(config.limits ? { config: config.limits } : {}) }))
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
  // A run has its run/interrupt.ts loaded already.
  if (process.argv[2] === 'run') void import('./run/interrupt.ts').then((m) => m.stopRun('its output was closed', 141))
  else process.exit(0)
})

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  async (e: unknown) => {
    const error = argumentError(e, process.argv[2]) ?? e
    process.stderr.write(`labproof: ${error instanceof Error ? error.message : String(error)}\n`)
    const { SelectionError } = await import('./scenario/selection.ts')
    process.exitCode = error instanceof UsageError || error instanceof SelectionError ? 2 : 1
  },
)
