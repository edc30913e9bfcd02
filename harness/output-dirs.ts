// Where a run writes its results: reports/junit.xml, reports/run/, reports/by-backend/, allure-results/ and
// allure-report/ under LABPROOF_OUTPUT_DIR (default: the current directory).
import path from 'node:path'

export function outputDirs(base = process.env.LABPROOF_OUTPUT_DIR || process.cwd()) {
  return {
    reports: path.resolve(base, 'reports'),
    junit: path.resolve(base, 'reports', 'junit.xml'),
    runRecords: path.resolve(base, 'reports', 'run'),
    /** Each backend's (matrix cell's) latest run of each scenario, kept across runs on other
     *  backends: what `labproof review` and `errata` merge (report/run-record.ts). */
    backendRecords: path.resolve(base, 'reports', 'by-backend'),
    allureResults: path.resolve(base, 'allure-results'),
    allureReport: path.resolve(base, 'allure-report'),
  }
}
