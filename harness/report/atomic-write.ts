// Report files are written whole or not at all: the text goes to a temporary file beside the
// target, which is then renamed over it (rename is atomic within a folder). A run killed while
// writing leaves the previous complete file, never a truncated or empty one. Synchronous, so it
// also works in a process 'exit' handler (a second Ctrl-C).
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export function writeFileAtomic(file: string, text: string | NodeJS.ArrayBufferView): void {
  mkdirSync(path.dirname(file), { recursive: true })
  // A dot name that does not end in the target's extension: CI globs like reports/*.xml never
  // pick up a temporary file left by a SIGKILL.
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    writeFileSync(temporary, text)
    renameSync(temporary, file)
  } catch (e) {
    rmSync(temporary, { force: true })
    throw e
  }
}
