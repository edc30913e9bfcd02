// The checks as grading runs them: each kind's own run, or its grading.run where that differs
// (harness/checks/<kind>.ts). A ping check in `labproof run` also captures the echo replies with
// tcpdump to prove the TTL on the wire; a capture starts a process and writes a file on the
// machine, so grading judges a ping by what ping prints, which is what a student sees.
import { runCheckForGrading, type Check } from '../checks/index.ts'
import type { StepContext } from '../scenario/step-context.ts'

export function runReadOnlyCheck(c: Check, ctx: StepContext): Promise<string> {
  return runCheckForGrading(c, ctx)
}
