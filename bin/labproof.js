#!/usr/bin/env node
// labproof is written in TypeScript and runs from source through tsx: no build step.
import { register } from 'tsx/esm/api'

register()
await import('../harness/cli.ts')
