// A labproof process of its own that provisions one lab and then idles, for the tests of what a
// signalled or SIGKILLed owner leaves behind (docker, qemu, vagrant). It prints `LAB <id>` once
// its lab is up: the line the test waits for, never a delay.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processStartTime, type Owner } from '../../harness/ownership/owner.ts'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface OwnerProcess {
  child: ChildProcess
  pid: number
  labId: string
  /** The signal that ended the process, or its exit code. */
  exited: Promise<NodeJS.Signals | number | null>
  /** SIGKILLs the process (if it still runs) and removes its script. */
  dispose(): Promise<void>
}

export interface OwnerSpec {
  /** The backend's module, relative to the repository (`harness/backends/docker.ts`). */
  module: string
  /** The Backend it exports (`dockerBackend`). */
  backend: string
  /** provision()'s options, as JSON. */
  options?: object
}

/** Starts the owner and resolves once its lab is up; rejects with its stderr when it exits first. */
export async function startOwnerProcess(spec: OwnerSpec): Promise<OwnerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'labproof-owner-'))
  const script = join(dir, 'owner.mts')
  await writeFile(script, [
    `import { ${spec.backend} } from ${JSON.stringify(join(REPO_ROOT, spec.module))}`,
    `import { buildTopology } from ${JSON.stringify(join(REPO_ROOT, 'harness/topology.ts'))}`,
    `const lab = await ${spec.backend}.provision(buildTopology(), ${JSON.stringify(spec.options ?? {})})`,
    'console.log(`LAB ${lab.id}`)',
    'setInterval(() => {}, 1000)',
  ].join('\n'))
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += String(d)))
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => {
    child.on('exit', (code, sig) => resolve(sig ?? code))
    child.on('error', (e) => {
      stderr += `cannot start node: ${e.message}\n`
      resolve(null)
    })
  })
  const dispose = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') // by PID: the process started here
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const labId = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (d) => {
        out += String(d)
        const m = /^LAB (\S+)\n/m.exec(out) // the whole line: a chunk may end inside the id
        if (m) resolve(m[1]!)
      })
      void exited.then((how) => reject(new Error(`the owner process ended (${how}) before its lab was up:\n${stderr.slice(-3000)}`)))
    })
    return { child, pid: child.pid!, labId, exited, dispose }
  } catch (e) {
    await dispose()
    throw e
  }
}

/** A process that was running a moment ago and is gone now: a dead owner, by PID and start time. */
export async function deadOwner(): Promise<Owner> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' })
  await new Promise((r) => child.once('spawn', r))
  const owner = { pid: child.pid!, started: processStartTime(child.pid!) }
  await new Promise((r) => { child.once('exit', r); child.kill('SIGKILL') }) // by PID: started here
  return owner
}
