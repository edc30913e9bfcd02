// Where a run writes its results: reports/junit.xml, reports/run/, allure-results/ and
// allure-report/ under LABPROOF_OUTPUT_DIR (default: the current directory).
import path from 'node:path'

export function outputDirs(base = process.env.LABPROOF_OUTPUT_DIR || process.cwd()) {
  return {
    reports: path.resolve(base, 'reports'),
    junit: path.resolve(base, 'reports', 'junit.xml'),
    runRecords: path.resolve(base, 'reports', 'run'),
    allureResults: path.resolve(base, 'allure-results'),
    allureReport: path.resolve(base, 'allure-report'),
  }
}
