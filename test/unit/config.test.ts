// labproof.config.{json,yaml,yml} or package.json "labproof": read from the current directory,
// paths relative to the file, mistakes named with file:line:column; and the order run's
// settings are taken in: command line, environment, file, defaults.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { runSettings } from '../../harness/cli/run-settings.ts'
import { UsageError } from '../../harness/cli/usage.ts'
import { ConfigError, loadConfig } from '../../harness/config.ts'
import { defaultScenarios } from '../../harness/scenario/selection.ts'
import { SHIPPED_SCENARIO_DIR } from '../../harness/package-info.ts'
import { testTempDir } from '../helpers/temp-dir.ts'

function repo(files: Record<string, string>): string {
  const dir = testTempDir('config')
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), text)
  }
  return dir
}

describe('loadConfig', () => {
  test('none: no settings', () => {
    expect(loadConfig(repo({ 'package.json': '{"name":"x"}' }))).toEqual({})
  })

  test('YAML, with paths relative to the file', () => {
    const dir = repo({ 'labproof.config.yaml': 'scenarios: [labs, more/one.yaml]\noutput: build/lp\nbackend: docker\njobs: 2\ndocs: [docs]\n' })
    expect(loadConfig(dir)).toEqual({
      file: path.join(dir, 'labproof.config.yaml'),
      scenarios: [path.join(dir, 'labs'), path.join(dir, 'more/one.yaml')],
      output: path.join(dir, 'build/lp'),
      backend: 'docker',
      jobs: 2,
      docs: [path.join(dir, 'docs')],
    })
  })

  test('JSON, and one scenario folder as a string', () => {
    const dir = repo({ 'labproof.config.json': '{ "scenarios": "labs" }' })
    expect(loadConfig(dir).scenarios).toEqual([path.join(dir, 'labs')])
  })

  test('the "labproof" field of package.json', () => {
    const dir = repo({ 'package.json': '{ "name": "x", "labproof": { "backend": "qemu", "jobs": 1 } }' })
    expect(loadConfig(dir)).toMatchObject({ file: path.join(dir, 'package.json'), backend: 'qemu', jobs: 1 })
  })

  test('two places at once is refused', () => {
    const dir = repo({ 'labproof.config.yaml': 'jobs: 1\n', 'package.json': '{ "labproof": { "jobs": 2 } }' })
    expect(() => loadConfig(dir)).toThrow(new ConfigError("labproof's settings are in labproof.config.yaml and package.json: keep one"))
  })

  test('an unknown setting, with its line and column', () => {
    const dir = repo({ 'labproof.config.yaml': 'jobs: 2\nscenario: labs\n' })
    expect(() => loadConfig(dir)).toThrow(/^labproof\.config\.yaml:2:1: scenario: unknown setting "scenario" \(the settings are scenarios, output, backend, jobs, docs, maxScenarioBytes, maxSteps\)$/)
  })

  test('a wrong value in package.json, placed in the file', () => {
    const dir = repo({ 'package.json': '{\n  "name": "x",\n  "labproof": {\n    "backend": "lxc"\n  }\n}\n' })
    expect(() => loadConfig(dir)).toThrow(/^package\.json:4:16: labproof\.backend: /)
  })

  test('jobs must be a positive whole number', () => {
    expect(() => loadConfig(repo({ 'labproof.config.json': '{ "jobs": 0 }' }))).toThrow(/labproof\.config\.json:1:11: jobs: /)
  })

  test('not YAML at all', () => {
    expect(() => loadConfig(repo({ 'labproof.config.yml': 'jobs: [1\n' }))).toThrow(/^labproof\.config\.yml:\d+:\d+: not valid YAML/)
  })
})

describe('run settings: command line, then environment, then the file, then defaults', () => {
  const config = { backend: 'docker', jobs: 3, output: '/from/config' }

  test('the command line wins', () => {
    expect(runSettings({ backend: 'qemu', jobs: '5', out: '/from/cli' }, config, { LABPROOF_JOBS: '7', LABPROOF_OUTPUT_DIR: '/from/env' }))
      .toEqual({ backend: 'qemu', jobs: 5, output: '/from/cli' })
  })

  test('then the environment', () => {
    expect(runSettings({}, config, { LABPROOF_JOBS: '7', LABPROOF_OUTPUT_DIR: '/from/env' })).toEqual({ backend: 'docker', jobs: 7, output: '/from/env' })
  })

  test('then the file', () => {
    expect(runSettings({}, config, {})).toEqual({ backend: 'docker', jobs: 3, output: '/from/config' })
  })

  test('then the defaults: netns, its own jobs, the current directory', () => {
    expect(runSettings({}, {}, {})).toEqual({ backend: 'netns' })
  })

  test('--jobs 0 is a usage mistake', () => {
    expect(() => runSettings({ jobs: '0' }, {}, {})).toThrow(UsageError)
  })
})

describe('default scenarios', () => {
  test('LABPROOF_SCENARIO_DIR, then the config, then ./scenarios, then the shipped examples', () => {
    const dir = repo({ 'scenarios/a.yaml': '' })
    const config = { file: path.join(dir, 'labproof.config.yaml'), scenarios: [path.join(dir, 'labs')] }
    expect(defaultScenarios(config, dir, { LABPROOF_SCENARIO_DIR: 'env-labs' })).toEqual({ paths: [path.join(dir, 'env-labs')], origin: 'LABPROOF_SCENARIO_DIR' })
    expect(defaultScenarios(config, dir, {})).toEqual({ paths: [path.join(dir, 'labs')], origin: '"scenarios" in labproof.config.yaml' })
    expect(defaultScenarios({}, dir, {})).toEqual({ paths: [path.join(dir, 'scenarios')], origin: './scenarios' })
    expect(defaultScenarios({}, repo({}), {})).toEqual({ paths: [SHIPPED_SCENARIO_DIR], origin: 'the examples labproof ships' })
  })
})
