// What the kernel finishes after the command that asked for it has returned: a bridge port sees
// its carrier up to a second later (linkwatch), a deleted network namespace's links go in a work
// queue (cleanup_net), each later on a loaded machine. A check of such a state reads it again
// while it is on its way, for a bounded time; a state that never gets there still fails, with
// what was read last.

/** How long a state on its way is read again, and how often. */
export const SETTLE_MS = 3_000
const SETTLE_POLL_MS = 100

/** `read()`, again every 100 ms while `settling` says its value may yet change, for at most
 *  SETTLE_MS; the last value read. */
export async function readSettled<T>(read: () => Promise<T>, settling: (value: T) => boolean): Promise<T> {
  let value = await read()
  for (const deadline = Date.now() + SETTLE_MS; settling(value) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS))
    value = await read()
  }
  return value
}
