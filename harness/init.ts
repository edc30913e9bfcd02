// `labproof init [DIR]`: what a repository of lab write-ups needs to start: scenarios/ with one
// small example that passes on the netns backend, its editor schema reference (resolved from
// node_modules, where `npm i -D labproof` puts the schema), and a CI workflow. Existing files
// are kept unless --force.
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseCommand, UsageError } from './cli/usage.ts'
import { PACKAGE_DIR } from './package-info.ts'

export const INIT_HELP = `usage: labproof init [DIR] [--force]

Sets up DIR (default: the current directory) to run its own lab write-ups:
  scenarios/example.yaml         a small scenario that passes on the netns backend; its first
                                 line points editors (yaml-language-server) at the schema in
                                 node_modules/labproof/scenarios/schema.json
  .github/workflows/labproof.yml a GitHub Actions workflow that runs the scenarios and keeps
                                 JUnit and the HTML report
Files that exist are left alone (and named) unless --force.
`

/** The schema as `npm i -D labproof` installs it, seen from DIR/scenarios/. */
export const SCHEMA_REFERENCE = '../node_modules/labproof/scenarios/schema.json'

export const EXAMPLE_SCENARIO = `# yaml-language-server: $schema=${SCHEMA_REFERENCE}
# An example: two network namespaces on Host 01 joined by a veth pair, and Host 01 reaching
# Host 02 over the underlay. Run it with: npx labproof run scenarios/example.yaml
id: example-veth
title: Two namespaces joined by a veth pair
source: { doc: example-lab.md, section: Two namespaces }
requires: { kernel: [veth], tools: [ip, ping] }
steps:
  - { on: host01, run: ip netns add red }
  - { on: host01, run: ip netns add blue }
  - { on: host01, run: ip link add veth-red type veth peer name veth-blue }
  - { on: host01, run: ip link set veth-red netns red }
  - { on: host01, run: ip link set veth-blue netns blue }
  - { on: host01/red, run: ip addr add 10.0.0.1/24 dev veth-red && ip link set veth-red up }
  - { on: host01/blue, run: ip addr add 10.0.0.2/24 dev veth-blue && ip link set veth-blue up }
  - on: host01/red
    run: ping -c 1 10.0.0.2
    expect: { reachable: true, ttl: 64 }
  - check: { link: { on: host01/red, name: veth-red, type: veth, state: up, addresses: [10.0.0.1/24] } }
  - check: { ping: { from: host01/blue, to: 10.0.0.1, ttl: 64 } }
  - check: { ping: { from: host01, to: 192.168.21.12 } }
`

/** A workflow for when the package has none to copy: the scenarios on netns, reports kept. */
const MINIMAL_WORKFLOW = `# Runs the lab write-ups' scenarios with labproof on every push and pull request.
name: labproof
on: [push, pull_request]
jobs:
  netns:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
      - run: npm ci
      - run: sudo apt-get update && sudo apt-get install -y iproute2 iputils-ping iptables net-tools bridge-utils tcpdump
      - run: sudo --preserve-env=PATH npx labproof run --report
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: labproof-reports
          path: |
            reports/
            allure-report/
`

/** The workflow labproof ships (ci/github-workflow.yml), copied as it is; else the minimal one. */
export function workflowToWrite(): { text: string; from: string } {
  const shipped = path.join(PACKAGE_DIR, 'ci', 'github-workflow.yml')
  if (existsSync(shipped)) return { text: readFileSync(shipped, 'utf8'), from: "labproof's ci/github-workflow.yml" }
  return { text: MINIMAL_WORKFLOW, from: 'a minimal workflow (labproof ships none to copy)' }
}

export async function initCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, { force: { type: 'boolean', default: false } }, true)
  if (positionals.length > 1) throw new UsageError(`init: unexpected argument "${positionals[1]}" (labproof init --help shows the options)`)
  const dir = path.resolve(positionals[0] ?? '.')
  const workflow = workflowToWrite()
  const files: [string, string, string][] = [
    ['scenarios/example.yaml', EXAMPLE_SCENARIO, 'an example scenario'],
    ['.github/workflows/labproof.yml', workflow.text, `the CI workflow, from ${workflow.from}`],
  ]
  for (const [relative, text, what] of files) {
    const file = path.join(dir, relative)
    if (existsSync(file) && !values.force) {
      process.stdout.write(`kept     ${relative} (it exists; --force replaces it)\n`)
      continue
    }
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, text)
    process.stdout.write(`wrote    ${relative}: ${what}\n`)
  }
  if (!existsSync(path.join(dir, 'node_modules', 'labproof'))) {
    process.stdout.write('\nlabproof is not installed here: npm i -D labproof (editors find the schema in node_modules)\n')
  }
  process.stdout.write('\nnext: sudo npx labproof run scenarios/example.yaml   (the netns backend needs root)\n')
  return 0
}
