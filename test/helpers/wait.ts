// Waiting for a state of the machine that no process announces (a process gone, a container
// made): look again every few milliseconds until it holds, and fail naming it if it never does.
// Not a sleep standing in for readiness: the wait ends the moment the state is there.
export async function waitUntil(what: string, holds: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
