// How labproof writes to the terminal: colour only on a terminal (NO_COLOR and FORCE_COLOR
// honoured, for labproof and for vitest, which reads them), and a reader that goes away
// (`labproof list | head -1`) ends the command quietly instead of with a stack trace.

/** Colour or not, from the environment and whether stdout is a terminal. */
export function wantsColour(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): boolean {
  if (env.NO_COLOR) return false
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR)
  return stdoutIsTty && env.TERM !== 'dumb'
}

/** Settle the colour question once, in the environment every tool labproof runs reads: vitest's
 *  colours follow NO_COLOR and FORCE_COLOR only, not whether the output is a terminal. */
export function settleColour(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = process.stdout.isTTY === true): void {
  if (wantsColour(env, stdoutIsTty)) {
    delete env.NO_COLOR
    env.FORCE_COLOR ??= '1'
  } else {
    env.NO_COLOR = '1'
    delete env.FORCE_COLOR
  }
}

/** When stdout cannot be written any more (EPIPE: its reader is gone), call `onClosed` once; later writes are dropped. A
 *  closed stderr is ignored: there is nobody left to tell. */
export function onOutputClosed(onClosed: () => void): void {
  let closed = false
  process.stdout.on('error', () => {
    if (closed) return
    closed = true
    onClosed()
  })
  process.stderr.on('error', () => {})
}
